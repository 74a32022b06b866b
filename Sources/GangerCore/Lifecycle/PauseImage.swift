/// The image network holders run: one static x86_64 program, `/pause`, that calls pause(2) in a
/// loop and so keeps its network namespace alive doing nothing. Ganger builds it in memory and
/// imports it on each daemon at startup (no registry: `POST /images/create?fromSrc=-`).
enum PauseImage {
    static let repository = "ganger-pause"
    static let tag = "1"
    static var reference: String { "\(repository):\(tag)" }

    /// A complete 129-byte ELF64 executable: the ELF header, one PT_LOAD program header (R+X,
    /// the whole file at 0x400000), and the code `mov eax, 34 (pause); syscall; jmp back`.
    /// As PID 1 it has no signal handlers, so only SIGKILL ends it — what `docker rm -f` sends.
    static let program: [UInt8] = [
        0x7f, 0x45, 0x4c, 0x46, 0x02, 0x01, 0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
        0x02, 0x00, 0x3e, 0x00, 0x01, 0x00, 0x00, 0x00, 0x78, 0x00, 0x40, 0x00, 0x00, 0x00, 0x00, 0x00,
        0x40, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
        0x00, 0x00, 0x00, 0x00, 0x40, 0x00, 0x38, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
        0x01, 0x00, 0x00, 0x00, 0x05, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
        0x00, 0x00, 0x40, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x40, 0x00, 0x00, 0x00, 0x00, 0x00,
        0x81, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x81, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
        0x00, 0x10, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0xb8, 0x22, 0x00, 0x00, 0x00, 0x0f, 0x05, 0xeb,
        0xf7,
    ]

    /// The image's root filesystem as a tar stream: `pause`, mode 0755.
    static var rootfs: [UInt8] { tar(name: "pause", mode: 0o755, contents: program) }

    /// A POSIX ustar archive holding one regular file.
    static func tar(name: String, mode: Int, contents: [UInt8]) -> [UInt8] {
        var header = [UInt8](repeating: 0, count: 512)
        func put(_ text: String, at offset: Int) {
            for (i, byte) in text.utf8.enumerated() { header[offset + i] = byte }
        }
        func octal(_ value: Int, width: Int) -> String {
            let digits = String(value, radix: 8)
            return String(repeating: "0", count: width - 1 - digits.count) + digits
        }
        put(name, at: 0)
        put(octal(mode, width: 8), at: 100)
        put(octal(0, width: 8), at: 108)  // uid
        put(octal(0, width: 8), at: 116)  // gid
        put(octal(contents.count, width: 12), at: 124)
        put(octal(0, width: 12), at: 136)  // mtime
        put("        ", at: 148)  // checksum field counts as spaces while summing
        header[156] = UInt8(ascii: "0")  // regular file
        put("ustar", at: 257)
        put("00", at: 263)
        let sum = header.reduce(0) { $0 + Int($1) }
        put(octal(sum, width: 7), at: 148)
        header[155] = UInt8(ascii: " ")
        let padding = (512 - contents.count % 512) % 512
        return header + contents + [UInt8](repeating: 0, count: padding) + [UInt8](repeating: 0, count: 1024)
    }
}
