//! What a guest may send to a terminal: text, colours and cursor movement pass; everything
//! that would reach outside the guest's console is dropped.
//!
//! A terminal obeys escape sequences in what it displays. A guest could set the window title
//! (OSC), switch screens, turn on mouse reporting, or ask the terminal to answer (device
//! status, device attributes, DECRQSS in a DCS string, window reports): the answer arrives on
//! the terminal's input, which after tern exits is the host shell's. The filter is a state
//! machine over bytes that may arrive split anywhere. It passes:
//! - printable text, UTF-8 included, and the C0 controls but ENQ (which asks for an answer);
//! - CSI sequences from a fixed list: SGR (colours, attributes), cursor movement and
//!   positioning, erasing, inserting and deleting, scrolling and the scroll region, cursor
//!   save and restore, tab stops, insert mode, and the private modes 1 (cursor keys),
//!   7 (wrap), 12 (blink) and 25 (cursor shown);
//! - the ESC sequences for cursor save and restore, index, next line, reverse index, tab set,
//!   keypad modes and character set designation.
//!
//! It drops: OSC, DCS, APC, PM and SOS strings up to their terminator; every other CSI and ESC
//! sequence (device status and attribute queries, window operations, alternate screens, mouse
//! and paste modes, terminal resets); C1 controls, as 8-bit bytes or UTF-8 encoded; and any
//! sequence longer than [`MAX_SEQUENCE`] bytes. CAN and SUB abort a sequence, as in a terminal.

const ESC: u8 = 0x1b;
const ENQ: u8 = 0x05;
const BEL: u8 = 0x07;
const CAN: u8 = 0x18;
const SUB: u8 = 0x1a;
const DEL: u8 = 0x7f;

/// Longest escape sequence kept whole; longer ones are dropped.
pub const MAX_SEQUENCE: usize = 64;

/// The private modes (`CSI ? Pm h` and `l`) a guest may set: cursor keys, wrap, blink, cursor.
const ALLOWED_PRIVATE_MODES: [&[u8]; 4] = [b"1", b"7", b"12", b"25"];

/// Sent to a terminal when tern exits: ends any sequence left open (CAN), resets the scroll
/// region without moving the cursor, attributes, insert mode, cursor keys, keypad and
/// character set, shows the cursor and turns wrapping on, leaves the alternate screen if the
/// guest entered one (1047 does nothing on the normal screen), and turns off mouse, focus and
/// bracketed-paste reporting.
pub const TERMINAL_RESET: &[u8] = b"\x18\x1b7\x1b[r\x1b8\x1b[0m\x1b[4l\x1b[?1l\x1b>\x1b(B\x0f\x1b[?25h\x1b[?7h\x1b[?1047l\x1b[?1000l\x1b[?1002l\x1b[?1003l\x1b[?1006l\x1b[?1015l\x1b[?1004l\x1b[?2004l";

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum State {
    /// Text.
    Ground,
    /// After 0xc2, the first byte of a UTF-8 encoded C1 control or of a Latin-1 letter.
    AfterC2,
    /// After ESC; `seq` holds it.
    Escape,
    /// ESC and intermediate bytes; `seq` holds them.
    EscapeIntermediate,
    /// A CSI sequence being collected in `seq`.
    Csi,
    /// A CSI sequence being dropped up to its final byte.
    CsiIgnore,
    /// A string (OSC when `osc`) being dropped up to its terminator.
    Str {
        /// OSC strings also end at BEL.
        osc: bool,
    },
    /// ESC inside a string: ST if `\` follows.
    StrEscape,
}

/// The filter's state between chunks of output.
#[derive(Debug)]
pub struct EscapeFilter {
    state: State,
    /// The sequence being collected (ESC first).
    seq: Vec<u8>,
    /// UTF-8 continuation bytes still expected.
    utf8_left: u8,
    /// Bytes dropped so far.
    dropped: u64,
}

impl Default for EscapeFilter {
    fn default() -> Self {
        Self::new()
    }
}

impl EscapeFilter {
    /// A filter at the start of a line of text.
    pub fn new() -> Self {
        Self {
            state: State::Ground,
            seq: Vec::with_capacity(MAX_SEQUENCE),
            utf8_left: 0,
            dropped: 0,
        }
    }

    /// Bytes dropped so far (a sequence still being collected is not counted yet).
    pub fn dropped(&self) -> u64 {
        self.dropped
    }

    /// Filters `input`, appending what may reach the terminal to `out`. A sequence split
    /// across calls is held until it is complete.
    pub fn feed(&mut self, input: &[u8], out: &mut Vec<u8>) {
        for &byte in input {
            self.byte(byte, out);
        }
    }

    fn drop_seq(&mut self) {
        self.dropped += self.seq.len() as u64;
        self.seq.clear();
    }

    fn start_escape(&mut self) {
        self.drop_seq();
        self.seq.push(ESC);
        self.state = State::Escape;
    }

    /// Handles a byte that interrupts a sequence: ESC starts a new one, CAN and SUB abort
    /// it. Returns whether `byte` was one of those.
    fn interrupts(&mut self, byte: u8) -> bool {
        match byte {
            ESC => self.start_escape(),
            CAN | SUB => {
                self.drop_seq();
                self.dropped += 1;
                self.state = State::Ground;
            }
            _ => return false,
        }
        true
    }

    /// A C0 control met inside a sequence: the terminal would act on it there and then.
    fn control_inside(&mut self, byte: u8, out: &mut Vec<u8>) {
        if byte == ENQ {
            self.dropped += 1;
        } else {
            out.push(byte);
        }
    }

    /// A byte that has no place in the sequence being collected: a C0 control acts there and
    /// then, DEL is ignored, and a byte from 0x80 ends the sequence and is taken as text.
    fn stray_in_sequence(&mut self, byte: u8, out: &mut Vec<u8>) {
        match byte {
            0x00..=0x1f => self.control_inside(byte, out),
            DEL => self.dropped += 1,
            _ => {
                self.drop_seq();
                self.state = State::Ground;
                self.ground(byte, out);
            }
        }
    }

    fn byte(&mut self, byte: u8, out: &mut Vec<u8>) {
        match self.state {
            State::Ground => self.ground(byte, out),
            State::AfterC2 => {
                self.state = State::Ground;
                if (0x80..=0x9f).contains(&byte) {
                    // U+0080..U+009F: a C1 control.
                    self.dropped += 2;
                } else {
                    out.push(0xc2);
                    if (0xa0..=0xbf).contains(&byte) {
                        out.push(byte);
                    } else {
                        self.ground(byte, out);
                    }
                }
            }
            State::Escape => self.escape(byte, out),
            State::EscapeIntermediate => self.escape_intermediate(byte, out),
            State::Csi => self.csi(byte, out),
            State::CsiIgnore => {
                if self.interrupts(byte) {
                    return;
                }
                match byte {
                    0x00..=0x1f => self.control_inside(byte, out),
                    0x40..=0x7e => {
                        self.dropped += 1;
                        self.state = State::Ground;
                    }
                    _ => self.dropped += 1,
                }
            }
            State::Str { osc } => match byte {
                ESC => self.state = State::StrEscape,
                CAN | SUB => {
                    self.dropped += 1;
                    self.state = State::Ground;
                }
                BEL if osc => {
                    self.dropped += 1;
                    self.state = State::Ground;
                }
                _ => self.dropped += 1,
            },
            State::StrEscape => {
                if byte == b'\\' {
                    self.dropped += 2;
                    self.state = State::Ground;
                } else {
                    // The string ended without ST; the ESC starts a new sequence.
                    self.start_escape();
                    self.escape(byte, out);
                }
            }
        }
    }

    fn ground(&mut self, byte: u8, out: &mut Vec<u8>) {
        if self.utf8_left > 0 {
            if (0x80..=0xbf).contains(&byte) {
                self.utf8_left -= 1;
                out.push(byte);
                return;
            }
            self.utf8_left = 0;
        }
        match byte {
            ESC => self.start_escape(),
            ENQ => self.dropped += 1,
            0xc2 => self.state = State::AfterC2,
            // Outside a UTF-8 character these are 8-bit C1 controls (CSI, OSC, DCS...).
            0x80..=0x9f => self.dropped += 1,
            0xc3..=0xdf => {
                self.utf8_left = 1;
                out.push(byte);
            }
            0xe0..=0xef => {
                self.utf8_left = 2;
                out.push(byte);
            }
            0xf0..=0xf4 => {
                self.utf8_left = 3;
                out.push(byte);
            }
            _ => out.push(byte),
        }
    }

    fn escape(&mut self, byte: u8, out: &mut Vec<u8>) {
        if self.interrupts(byte) {
            return;
        }
        match byte {
            b'[' => {
                self.seq.push(byte);
                self.state = State::Csi;
            }
            b']' | b'P' | b'_' | b'^' | b'X' => {
                self.seq.push(byte);
                self.drop_seq();
                self.state = State::Str { osc: byte == b']' };
            }
            0x20..=0x2f => {
                self.seq.push(byte);
                self.state = State::EscapeIntermediate;
            }
            0x30..=0x7e => {
                self.seq.push(byte);
                self.finish(
                    out,
                    matches!(byte, b'7' | b'8' | b'D' | b'E' | b'M' | b'H' | b'=' | b'>'),
                );
            }
            _ => self.stray_in_sequence(byte, out),
        }
    }

    fn escape_intermediate(&mut self, byte: u8, out: &mut Vec<u8>) {
        if self.interrupts(byte) {
            return;
        }
        match byte {
            0x20..=0x2f if self.seq.len() < MAX_SEQUENCE => self.seq.push(byte),
            0x20..=0x2f => self.dropped += 1,
            0x30..=0x7e => {
                self.seq.push(byte);
                // Only a character set designation: ESC ( B and its kin.
                let designation = self.seq.len() == 3 && b"()*+-./".contains(&self.seq[1]);
                self.finish(out, designation);
            }
            _ => self.stray_in_sequence(byte, out),
        }
    }

    fn csi(&mut self, byte: u8, out: &mut Vec<u8>) {
        if self.interrupts(byte) {
            return;
        }
        match byte {
            0x20..=0x3f if self.seq.len() < MAX_SEQUENCE => self.seq.push(byte),
            0x20..=0x3f => {
                self.drop_seq();
                self.dropped += 1;
                self.state = State::CsiIgnore;
            }
            0x40..=0x7e => {
                let allowed = csi_allowed(&self.seq[2..], byte);
                self.seq.push(byte);
                self.finish(out, allowed);
            }
            _ => self.stray_in_sequence(byte, out),
        }
    }

    /// Ends the sequence in `seq`: passes it if `allowed`, else drops it.
    fn finish(&mut self, out: &mut Vec<u8>, allowed: bool) {
        if allowed {
            out.extend_from_slice(&self.seq);
            self.seq.clear();
        } else {
            self.drop_seq();
        }
        self.state = State::Ground;
    }
}

/// Whether `CSI <body> <final>` is on the list (see the module's description).
fn csi_allowed(body: &[u8], final_byte: u8) -> bool {
    let (private, params) = match body.first() {
        Some(p @ (b'<' | b'=' | b'>' | b'?')) => (Some(*p), &body[1..]),
        _ => (None, body),
    };
    // Parameters only: digits and separators, no intermediates, no marker in the middle.
    if !params
        .iter()
        .all(|b| b.is_ascii_digit() || *b == b';' || *b == b':')
    {
        return false;
    }
    match (private, final_byte) {
        (None, b'm') => true,
        (None, b'A'..=b'H' | b'f' | b'd' | b'e' | b'a' | b'`') => true,
        (None, b'J' | b'K' | b'L' | b'M' | b'P' | b'@' | b'X') => true,
        (None, b'S' | b'T' | b'r' | b's' | b'u' | b'g' | b'I' | b'Z') => {
            !params.contains(&b';') || final_byte == b'r'
        }
        (None, b'h' | b'l') => params == b"4",
        (Some(b'?'), b'h' | b'l') => {
            !params.is_empty()
                && params
                    .split(|b| *b == b';')
                    .all(|mode| ALLOWED_PRIVATE_MODES.contains(&mode))
        }
        (Some(b'?'), b'J' | b'K') => true,
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn filter_all(input: &[u8]) -> Vec<u8> {
        let mut filter = EscapeFilter::new();
        let mut out = Vec::new();
        filter.feed(input, &mut out);
        out
    }

    /// Feeds `input` split at every possible point (and byte by byte): the output must be
    /// the same as in one piece.
    fn same_however_split(input: &[u8]) -> Vec<u8> {
        let whole = filter_all(input);
        for cut in 0..=input.len() {
            let mut filter = EscapeFilter::new();
            let mut out = Vec::new();
            filter.feed(&input[..cut], &mut out);
            filter.feed(&input[cut..], &mut out);
            assert_eq!(out, whole, "split at {cut} of {input:?}");
        }
        let mut filter = EscapeFilter::new();
        let mut out = Vec::new();
        for b in input {
            filter.feed(std::slice::from_ref(b), &mut out);
        }
        assert_eq!(out, whole, "byte by byte: {input:?}");
        whole
    }

    #[test]
    fn text_colours_and_cursor_movement_pass() {
        let text = "plain \u{e9}t\u{e9} \u{2603} \u{1f600}\r\n\t\x08\x07".as_bytes();
        assert_eq!(same_however_split(text), text);
        for seq in [
            &b"\x1b[0m\x1b[1;31;42mred\x1b[m"[..],
            b"\x1b[38;2;10;20;30mtrue\x1b[38:5:200m",
            b"\x1b[H\x1b[2J\x1b[10;20H\x1b[3A\x1b[B\x1b[12C\x1b[D\x1b[K\x1b[5G",
            b"\x1b[?25l\x1b[?25h\x1b[?7h\x1b[?1h\x1b=",
            b"\x1b[1;24r\x1b[s\x1b[u\x1b7\x1b8\x1bM\x1bD\x1b(0qqq\x1b(B",
            b"\x1b[4h\x1b[4l\x1b[2L\x1b[3M\x1b[P\x1b[@\x1b[X\x1b[S\x1b[T",
        ] {
            assert_eq!(same_however_split(seq), seq, "{seq:?}");
        }
    }

    #[test]
    fn strings_are_dropped_up_to_their_terminator() {
        for (input, kept) in [
            (&b"a\x1b]0;owned title\x07b"[..], &b"ab"[..]),
            (b"a\x1b]2;title\x1b\\b", b"ab"),
            (b"a\x1bP$qm\x1b\\b", b"ab"),                  // DECRQSS
            (b"a\x1bPq#0;2;0;0;0\x07still\x1b\\b", b"ab"), // BEL does not end a DCS
            (b"a\x1b_apc\x1b\\b\x1b^pm\x1b\\c\x1bXsos\x1b\\d", b"abcd"),
            (b"a\x1b]52;c;bWFsaWNl\x1b\\b", b"ab"), // clipboard
            (b"a\x1b]0;t\x18b", b"ab"),             // CAN aborts
        ] {
            assert_eq!(same_however_split(input), kept, "{input:?}");
        }
    }

    #[test]
    fn a_string_ended_by_another_escape_lets_that_one_through() {
        assert_eq!(same_however_split(b"\x1b]0;t\x1b[1mB"), b"\x1b[1mB");
    }

    #[test]
    fn queries_and_modes_that_reach_outside_are_dropped() {
        for input in [
            &b"\x1b[c"[..], // DA1
            b"\x1b[>c",     // DA2
            b"\x1b[=c",     // DA3
            b"\x1b[5n",     // DSR
            b"\x1b[6n",     // cursor position report
            b"\x1b[?6n",    // DECXCPR
            b"\x1b[21t",    // report the window title
            b"\x1b[8;100;100t",
            b"\x1b[?2$p",   // DECRQM
            b"\x1b[>0q",    // XTVERSION
            b"\x1b[?1049h", // alternate screen
            b"\x1b[?47h",
            b"\x1b[?1000h", // mouse
            b"\x1b[?25;1049h",
            b"\x1b[?2004h", // bracketed paste
            b"\x1b[>4;2m",  // modifyOtherKeys
            b"\x1b[1 q",    // cursor style
            b"\x1b[5b",     // repeat
            b"\x1bZ",       // DECID
            b"\x1bc",       // full reset
            b"\x1b#8",
            b"\x05", // ENQ: answerback
        ] {
            let mut with_text = b"<".to_vec();
            with_text.extend_from_slice(input);
            with_text.push(b'>');
            assert_eq!(same_however_split(&with_text), b"<>", "{input:?}");
        }
    }

    #[test]
    fn c1_controls_are_dropped_raw_and_utf8_encoded() {
        assert_eq!(same_however_split(b"a\x9b6nb\x9d0;t\x07c"), b"a6nb0;t\x07c");
        assert_eq!(
            same_however_split(b"a\xc2\x9b6n\xc2\xa0\xc2\xbfb"),
            b"a6n\xc2\xa0\xc2\xbfb"
        );
        // Continuation bytes in 0x80..0x9f inside a character are kept.
        let private_use = "\u{e29b}\u{1f680}".as_bytes();
        assert_eq!(same_however_split(private_use), private_use);
    }

    #[test]
    fn overlong_sequences_are_dropped_and_the_filter_recovers() {
        let mut input = b"\x1b[".to_vec();
        input.extend(std::iter::repeat_n(b'1', 10_000));
        input.extend_from_slice(b"mok");
        assert_eq!(same_however_split(&input), b"ok");
    }

    #[test]
    fn controls_inside_a_sequence_act_and_it_goes_on() {
        assert_eq!(same_however_split(b"\x1b[1\r\n;2H"), b"\r\n\x1b[1;2H");
        assert_eq!(same_however_split(b"\x1b[6\x05n"), b"");
    }

    #[test]
    fn counts_what_it_drops() {
        let mut filter = EscapeFilter::new();
        let mut out = Vec::new();
        filter.feed(b"ab\x1b]0;title\x07\x1b[6ncd", &mut out);
        assert_eq!(out, b"abcd");
        assert_eq!(filter.dropped(), 14);
    }
}
