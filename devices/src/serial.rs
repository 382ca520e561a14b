//! The guest console: an 8250 UART at 0x3f8 (IRQ 4) from `vm-superio`.
//!
//! Output goes to any writer (tern's console buffer, see [`crate::console`]). Input comes from
//! a file descriptor (tern's stdin) through [`ConsoleInput`], an event-manager subscriber that
//! stops reading while the UART's receive FIFO is full and starts again when the guest has
//! drained it. Only that wait is ever signalled: a guest reading an empty receive register in
//! a loop wakes no other thread.

use std::fs::File;
use std::io::{self, Read, Write};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use event_manager::{EventOps, EventSet, Events, MutEventSubscriber};
use vm_device::bus::{PioAddress, PioAddressOffset};
use vm_device::MutDevicePio;
use vm_superio::serial::SerialEvents;
use vm_superio::Serial;

use crate::trigger::EventFdTrigger;
use crate::Error;

/// I/O port of the first serial port (COM1).
pub const COM1_PORT_BASE: u16 = 0x3f8;
/// Number of ports a UART decodes.
pub const COM_PORT_COUNT: u16 = 8;
/// Legacy interrupt line of COM1.
pub const COM1_IRQ: u32 = 4;

/// Tells the input side that the guest emptied the receive FIFO, when it is waiting for that.
#[derive(Debug)]
struct InputDrained {
    event: EventFdTrigger,
    /// Input is waiting for room: set by the input side when it finds the FIFO full.
    waiting: AtomicBool,
}

impl SerialEvents for InputDrained {
    fn buffer_read(&self) {}
    fn out_byte(&self) {}
    fn tx_lost_byte(&self) {}
    fn in_buffer_empty(&self) {
        // The UART calls this after every read that leaves the FIFO empty, including reads
        // of an already empty FIFO; only the first after the input side asked is signalled.
        if self.waiting.swap(false, Ordering::Relaxed) {
            if let Err(err) = self.event.write(1) {
                log::warn!("serial: cannot signal a drained input buffer: {err}");
            }
        }
    }
}

type Uart = Serial<EventFdTrigger, InputDrained, Box<dyn Write + Send>>;

/// The UART on the port I/O bus.
pub struct SerialConsole {
    uart: Uart,
}

impl std::fmt::Debug for SerialConsole {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SerialConsole").finish_non_exhaustive()
    }
}

impl SerialConsole {
    /// A UART that raises `irq` for the guest and writes what the guest sends to `out`.
    /// Returns it with the eventfd that fires when the guest has read all pending input.
    pub fn new(
        irq: EventFdTrigger,
        out: Box<dyn Write + Send>,
    ) -> Result<(Self, EventFdTrigger), Error> {
        let drained = EventFdTrigger::new().map_err(|e| Error::EventFd("serial input", e))?;
        let events = InputDrained {
            event: drained
                .try_clone()
                .map_err(|e| Error::EventFd("serial input", e))?,
            waiting: AtomicBool::new(false),
        };
        let uart = Serial::with_events(irq, events, out);
        Ok((Self { uart }, drained))
    }

    /// Queues bytes for the guest to read; returns how many fit in the receive FIFO.
    pub fn enqueue_input(&mut self, bytes: &[u8]) -> usize {
        match self.uart.enqueue_raw_bytes(bytes) {
            Ok(n) => n,
            Err(err) => {
                log::debug!("serial: input not queued: {err:?}");
                0
            }
        }
    }

    /// Free room in the receive FIFO, in bytes.
    pub fn input_room(&self) -> usize {
        self.uart.fifo_capacity()
    }

    /// Asks for the drained eventfd to fire once, when the guest next empties the FIFO.
    pub fn wake_input_when_drained(&self) {
        self.uart.events().waiting.store(true, Ordering::Relaxed);
    }
}

impl MutDevicePio for SerialConsole {
    fn pio_read(&mut self, _base: PioAddress, offset: PioAddressOffset, data: &mut [u8]) {
        match (u8::try_from(offset), data) {
            (Ok(off), [byte]) => *byte = self.uart.read(off),
            (_, data) => data.fill(0xff),
        }
    }

    fn pio_write(&mut self, _base: PioAddress, offset: PioAddressOffset, data: &[u8]) {
        let (Ok(off), [value]) = (u8::try_from(offset), data) else {
            return;
        };
        if let Err(err) = self.uart.write(off, *value) {
            log::warn!("serial: write to register {off} failed: {err:?}");
        }
    }
}

/// Feeds an input file descriptor (usually stdin) into the UART.
#[derive(Debug)]
pub struct ConsoleInput {
    console: Arc<Mutex<SerialConsole>>,
    input: File,
    drained: EventFdTrigger,
    reading: bool,
}

impl ConsoleInput {
    /// Reads from a duplicate of `input_fd`, so the caller's descriptor stays its own.
    pub fn new(
        console: Arc<Mutex<SerialConsole>>,
        input_fd: RawFd,
        drained: EventFdTrigger,
    ) -> io::Result<Self> {
        // SAFETY: `dup` only reads the descriptor number; an invalid one makes it fail with EBADF.
        let dup = unsafe { libc::dup(input_fd) };
        if dup < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: `dup` just returned this descriptor, so nothing else owns it.
        let input = File::from(unsafe { OwnedFd::from_raw_fd(dup) });
        Ok(Self {
            console,
            input,
            drained,
            reading: true,
        })
    }

    fn pump(&mut self, ops: &mut EventOps) {
        let room = match self.console.lock() {
            Ok(console) => {
                let room = console.input_room();
                if room == 0 {
                    // Under the lock, so the guest's read that empties the FIFO sees it.
                    console.wake_input_when_drained();
                }
                room
            }
            Err(_) => return,
        };
        if room == 0 {
            self.pause(ops);
            return;
        }
        let mut buf = [0u8; 64];
        let want = room.min(buf.len());
        match self.input.read(&mut buf[..want]) {
            Ok(0) => self.stop(ops),
            Ok(n) => {
                if let Ok(mut console) = self.console.lock() {
                    console.enqueue_input(&buf[..n]);
                }
            }
            Err(err) if err.kind() == io::ErrorKind::Interrupted => {}
            Err(err) => {
                log::warn!("serial: stopped reading console input: {err}");
                self.stop(ops);
            }
        }
    }

    fn pause(&mut self, ops: &mut EventOps) {
        if self.reading && ops.remove(Events::empty(&self.input)).is_ok() {
            self.reading = false;
        }
    }

    fn stop(&mut self, ops: &mut EventOps) {
        self.pause(ops);
        let _ = ops.remove(Events::new(&*self.drained, EventSet::IN));
    }

    fn resume(&mut self, ops: &mut EventOps) {
        let _ = self.drained.read();
        if !self.reading && ops.add(Events::new(&self.input, EventSet::IN)).is_ok() {
            self.reading = true;
        }
    }
}

impl MutEventSubscriber for ConsoleInput {
    fn process(&mut self, events: Events, ops: &mut EventOps) {
        if events.fd() == self.drained.as_raw_fd() {
            self.resume(ops);
        } else if events.event_set().contains(EventSet::IN) {
            self.pump(ops);
        } else {
            // Hang-up or error without data: the input has ended.
            self.stop(ops);
        }
    }

    fn init(&mut self, ops: &mut EventOps) {
        if let Err(err) = ops.add(Events::new(&self.input, EventSet::IN)) {
            log::info!("serial: console input unavailable: {err:?}");
            self.reading = false;
        }
        if let Err(err) = ops.add(Events::new(&*self.drained, EventSet::IN)) {
            log::warn!("serial: console input flow control unavailable: {err:?}");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Clone, Default)]
    struct Sink(Arc<Mutex<Vec<u8>>>);

    impl Write for Sink {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn guest_output_reaches_the_writer() {
        let sink = Sink::default();
        let irq = EventFdTrigger::new().unwrap();
        let (mut uart, _drained) = SerialConsole::new(irq, Box::new(sink.clone())).unwrap();
        for b in b"hi\n" {
            uart.pio_write(PioAddress(COM1_PORT_BASE), 0, &[*b]);
        }
        assert_eq!(&*sink.0.lock().unwrap(), b"hi\n");
    }

    fn read_data(uart: &mut SerialConsole) -> u8 {
        let mut byte = [0u8];
        uart.pio_read(PioAddress(COM1_PORT_BASE), 0, &mut byte);
        byte[0]
    }

    #[test]
    fn input_is_read_back_by_the_guest_without_waking_anyone() {
        let irq = EventFdTrigger::new().unwrap();
        let (mut uart, drained) = SerialConsole::new(irq, Box::new(io::sink())).unwrap();
        assert_eq!(uart.enqueue_input(b"x"), 1);
        assert_eq!(read_data(&mut uart), b'x');
        assert_eq!(
            drained.read().unwrap_err().kind(),
            io::ErrorKind::WouldBlock,
            "nobody waits for room"
        );
    }

    #[test]
    fn reads_of_an_empty_fifo_signal_nothing_and_a_waiting_input_is_woken_once() {
        let irq = EventFdTrigger::new().unwrap();
        let (mut uart, drained) = SerialConsole::new(irq, Box::new(io::sink())).unwrap();
        for _ in 0..1000 {
            read_data(&mut uart);
        }
        assert_eq!(
            drained.read().unwrap_err().kind(),
            io::ErrorKind::WouldBlock
        );

        let full = vec![b'a'; 64];
        assert_eq!(uart.enqueue_input(&full), 64);
        assert_eq!(uart.input_room(), 0);
        uart.wake_input_when_drained();
        for _ in 0..63 {
            read_data(&mut uart);
        }
        assert_eq!(
            drained.read().unwrap_err().kind(),
            io::ErrorKind::WouldBlock,
            "not empty yet"
        );
        read_data(&mut uart);
        for _ in 0..1000 {
            read_data(&mut uart);
        }
        assert_eq!(drained.read().unwrap(), 1, "one wake for the drain");
    }

    #[test]
    fn wide_accesses_read_as_all_ones() {
        let irq = EventFdTrigger::new().unwrap();
        let (mut uart, _) = SerialConsole::new(irq, Box::new(io::sink())).unwrap();
        let mut word = [0u8; 2];
        uart.pio_read(PioAddress(COM1_PORT_BASE), 5, &mut word);
        assert_eq!(word, [0xff, 0xff]);
    }
}
