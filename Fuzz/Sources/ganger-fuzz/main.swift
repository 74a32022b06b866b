import CFuzzerDriver
import Glibc

// SwiftPM gives every executable a main of its own, so libFuzzer's main is not linked; its
// driver runs here with the same flags (-max_total_time, -dict, corpus directories, ...).
var argc = CommandLine.argc
var argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>? = CommandLine.unsafeArgv
exit(LLVMFuzzerRunDriver(&argc, &argv) { data, size in fuzzTestOneInput(data, size) })
