//! Hand-made guests of a few instructions, as 64-bit ELF images tern loads at 1 MiB. They run
//! on this host's own (slow) KVM: no Linux needed.

const LOAD: u64 = 0x10_0000;

/// An ELF image whose one segment, loaded at 1 MiB, is `code` (the entry point).
pub fn elf_with_code(code: &[u8]) -> Vec<u8> {
    let mut elf = Vec::new();
    elf.extend_from_slice(b"\x7fELF");
    elf.extend_from_slice(&[2, 1, 1, 0]); // 64-bit, little endian, version 1, System V
    elf.extend_from_slice(&[0; 8]);
    elf.extend_from_slice(&2u16.to_le_bytes()); // executable
    elf.extend_from_slice(&0x3eu16.to_le_bytes()); // x86_64
    elf.extend_from_slice(&1u32.to_le_bytes());
    elf.extend_from_slice(&LOAD.to_le_bytes()); // entry
    elf.extend_from_slice(&64u64.to_le_bytes()); // program headers right after this header
    elf.extend_from_slice(&0u64.to_le_bytes()); // no section headers
    elf.extend_from_slice(&0u32.to_le_bytes());
    for half in [64u16, 56, 1, 64, 0, 0] {
        elf.extend_from_slice(&half.to_le_bytes());
    }
    elf.extend_from_slice(&1u32.to_le_bytes()); // PT_LOAD
    elf.extend_from_slice(&5u32.to_le_bytes()); // R+X
    for word in [
        0x1000,
        LOAD,
        LOAD,
        code.len() as u64,
        code.len() as u64,
        0x1000,
    ] {
        elf.extend_from_slice(&word.to_le_bytes());
    }
    elf.resize(0x1000, 0);
    elf.extend_from_slice(code);
    elf
}

/// A guest that writes `message` to COM1, then asks the i8042 for a CPU reset (what
/// `reboot=k` does), so tern exits 0.
pub fn hello_guest(message: &str) -> Vec<u8> {
    let mut code: Vec<u8> = vec![
        0x66, 0xba, 0xf8, 0x03, // mov dx, 0x3f8
        0x48, 0x8d, 0x35, 15, 0, 0, 0,    // lea rsi, [rip + 15]  (the message)
        0xac, // loop: lodsb
        0x84, 0xc0, // test al, al
        0x74, 0x03, // jz done
        0xee, // out dx, al
        0xeb, 0xf8, // jmp loop
        0xb0, 0xfe, // done: mov al, 0xfe
        0xe6, 0x64, // out 0x64, al  (i8042: pulse the reset line)
        0xf4, // hlt
        0xeb, 0xfd, // jmp hlt
    ];
    code.extend_from_slice(message.as_bytes());
    code.push(0);
    elf_with_code(&code)
}

/// A guest that never stops: it counts down 2^18 and writes a `.` to COM1, forever. On this
/// host's KVM that is a heartbeat every few tenths of a second; a paused VM writes none.
pub fn heartbeat_guest() -> Vec<u8> {
    elf_with_code(&[
        0x66, 0xba, 0xf8, 0x03, // mov dx, 0x3f8
        0xb9, 0x00, 0x00, 0x04, 0x00, // outer: mov ecx, 0x40000
        0xff, 0xc9, // inner: dec ecx
        0x75, 0xfc, // jnz inner
        0xb0, 0x2e, // mov al, '.'
        0xee, // out dx, al
        0xeb, 0xf2, // jmp outer
    ])
}

/// A guest that writes one word per 4 KiB page of guest-physical 2-4 MiB, over and over: one
/// hot 2 MiB chunk for the dirty log to find.
pub fn writer_guest() -> Vec<u8> {
    elf_with_code(&[
        0xbf, 0x00, 0x00, 0x20, 0x00, // start: mov edi, 0x200000
        0x89, 0x07, // loop: mov [rdi], eax
        0x48, 0x81, 0xc7, 0x00, 0x10, 0x00, 0x00, // add rdi, 0x1000
        0x48, 0x81, 0xff, 0x00, 0x00, 0x40, 0x00, // cmp rdi, 0x400000
        0x72, 0xee, // jb loop
        0xeb, 0xe7, // jmp start
    ])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn images_are_elf_with_the_code_at_the_load_offset() {
        let elf = heartbeat_guest();
        assert_eq!(&elf[..4], b"\x7fELF");
        assert_eq!(&elf[0x1000..0x1004], &[0x66, 0xba, 0xf8, 0x03]);
        let hello = hello_guest("hi");
        assert_eq!(&hello[hello.len() - 3..], b"hi\0");
    }
}
