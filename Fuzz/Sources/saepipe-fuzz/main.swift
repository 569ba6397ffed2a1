import CFuzzerDriver
import Foundation
import SAEPipe

// Usage: saepipe-fuzz TARGET [libFuzzer flags and corpus directories or crash files…]
let arguments = CommandLine.arguments
guard arguments.count >= 2, let target = FuzzTarget.all.first(where: { $0.name == arguments[1] }) else {
    var usage = "usage: saepipe-fuzz TARGET [libFuzzer options] [CORPUS_DIR | FILE]...\ntargets:\n"
    for target in FuzzTarget.all { usage += "  \(target.name.padding(toLength: 12, withPad: " ", startingAt: 0)) \(target.summary)\n" }
    FileHandle.standardError.write(Data(usage.utf8))
    exit(2)
}

// libFuzzer calls back through a C function pointer, which cannot capture: keep the target global.
nonisolated(unsafe) var selected = target

// libFuzzer parses the remaining arguments; drop the target name from argv.
var argc = CommandLine.argc - 1
var argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>? = CommandLine.unsafeArgv
argv![1] = argv![0]
argv = argv! + 1
exit(LLVMFuzzerRunDriver(&argc, &argv) { data, size in
    let bytes = UnsafeRawBufferPointer(start: data, count: size)
    _ = try? selected.run(bytes)
    return 0
})
