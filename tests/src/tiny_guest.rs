//! Hand-made guests of a few instructions, as 64-bit ELF images tern loads at 1 MiB. They run
//! on this host's own (slow) KVM: no Linux needed.

const LOAD: u64 = 0x10_0000;

/// An ELF image whose one segment, loaded at 1 MiB, is `code` (the entry point).
pub fn elf_with_code(code: &[u8]) -> Vec<u8> {
    elf_at(LOAD, code)
}

/// An ELF image whose one segment, loaded at `load`, is `code` (the entry point).
pub fn elf_at(load: u64, code: &[u8]) -> Vec<u8> {
    let mut elf = Vec::new();
    elf.extend_from_slice(b"\x7fELF");
    elf.extend_from_slice(&[2, 1, 1, 0]); // 64-bit, little endian, version 1, System V
    elf.extend_from_slice(&[0; 8]);
    elf.extend_from_slice(&2u16.to_le_bytes()); // executable
    elf.extend_from_slice(&0x3eu16.to_le_bytes()); // x86_64
    elf.extend_from_slice(&1u32.to_le_bytes());
    elf.extend_from_slice(&load.to_le_bytes()); // entry
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
        load,
        load,
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

/// Hostile guests: each hammers one part of tern forever (tests/tests/host_hostile.rs).
pub mod hostile {
    use super::elf_with_code;

    /// Writes `x` to COM1 as fast as it can.
    pub fn serial_flood() -> Vec<u8> {
        elf_with_code(&[
            0x66, 0xba, 0xf8, 0x03, // mov dx, 0x3f8
            0xb0, 0x78, // loop: mov al, 'x'
            0xee, // out dx, al
            0xeb, 0xfb, // jmp loop
        ])
    }

    /// Reads COM1's (empty) receive register as fast as it can.
    pub fn receive_spin() -> Vec<u8> {
        elf_with_code(&[
            0x66, 0xba, 0xf8, 0x03, // mov dx, 0x3f8
            0xec, // loop: in al, dx
            0xeb, 0xfd, // jmp loop
        ])
    }

    /// Forever: draws a number (xorshift64), reads or writes a byte at that I/O port (but
    /// the i8042 and the ACPI power block, through which it could only end itself), then
    /// reads or writes 4 bytes at a guest-physical address between 1 and 3 GiB, where a small
    /// guest has no RAM (MMIO exits).
    pub fn port_and_mmio_chaos() -> Vec<u8> {
        elf_with_code(&[
            0x48, 0xbb, 0x1d, 0xdd, 0x6c, 0x4f, 0x91, 0xf4, 0x45, 0x25, // mov rbx, seed
            0x48, 0x89, 0xd8, // loop: mov rax, rbx
            0x48, 0xc1, 0xe0, 0x0d, // shl rax, 13
            0x48, 0x31, 0xc3, // xor rbx, rax
            0x48, 0x89, 0xd8, // mov rax, rbx
            0x48, 0xc1, 0xe8, 0x07, // shr rax, 7
            0x48, 0x31, 0xc3, // xor rbx, rax
            0x48, 0x89, 0xd8, // mov rax, rbx
            0x48, 0xc1, 0xe0, 0x11, // shl rax, 17
            0x48, 0x31, 0xc3, // xor rbx, rax
            0x0f, 0xb7, 0xd3, // movzx edx, bx  (the port)
            0x66, 0x83, 0xfa, 0x60, // cmp dx, 0x60
            0x72, 0x14, // jb port_ok
            0x66, 0x83, 0xfa, 0x64, // cmp dx, 0x64
            0x76, 0x21, // jbe mmio  (skip the i8042)
            0x66, 0x81, 0xfa, 0x00, 0x06, // cmp dx, 0x600
            0x72, 0x07, // jb port_ok
            0x66, 0x81, 0xfa, 0x02, 0x06, // cmp dx, 0x602
            0x76, 0x13, // jbe mmio  (skip the ACPI power block)
            0x48, 0x89, 0xd8, // port_ok: mov rax, rbx
            0x48, 0xc1, 0xe8, 0x18, // shr rax, 24  (the value)
            0xf7, 0xc3, 0x00, 0x00, 0x01, 0x00, // test ebx, 0x10000
            0x74, 0x03, // jz do_in
            0xee, // out dx, al
            0xeb, 0x01, // jmp mmio
            0xec, // do_in: in al, dx
            0x48, 0x89, 0xdf, // mmio: mov rdi, rbx
            0x48, 0xc1, 0xef, 0x20, // shr rdi, 32
            0x81, 0xe7, 0xf8, 0xff, 0xff, 0x7f, // and edi, 0x7ffffff8
            0x48, 0x81, 0xc7, 0x00, 0x00, 0x00, 0x40, // add rdi, 0x40000000
            0xf7, 0xc3, 0x00, 0x00, 0x02, 0x00, // test ebx, 0x20000
            0x74, 0x04, // jz do_read
            0x89, 0x07, // mov [rdi], eax
            0xeb, 0x92, // jmp loop
            0x8b, 0x07, // do_read: mov eax, [rdi]
            0xeb, 0x8e, // jmp loop
        ])
    }

    /// Executes an undefined instruction with no IDT: #UD, then #DF, then a triple fault.
    pub fn triple_fault() -> Vec<u8> {
        elf_with_code(&[0x0f, 0x0b]) // ud2
    }
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

    #[test]
    fn the_chaos_guest_jumps_back_to_its_loop() {
        let code = &hostile::port_and_mmio_chaos()[0x1000..];
        assert_eq!(code.len(), 0x7c);
        // Both final jumps land on `loop` at offset 0xa: rel8 from the end of each jump.
        assert_eq!(0x78 + i64::from(code[0x77] as i8), 0xa);
        assert_eq!(0x7c + i64::from(code[0x7b] as i8), 0xa);
    }
}
