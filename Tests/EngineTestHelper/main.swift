import EngineTestSupport
import Foundation
import SAEPipeCore
import SAEPipeEngine

// Runs the test pipeline in its own process: `EngineTestHelper CONFIG [--until STAGE]`,
// from the project directory the test prepared.
let arguments = Array(CommandLine.arguments.dropFirst())
do {
    let experiment = try TestPipeline.load(arguments[0])
    let until = arguments.count > 2 && arguments[1] == "--until" ? arguments[2] : nil
    let report = try experiment.runner().run(RunOptions(selection: RunSelection(until: until)))
    print(report.ranStages.joined(separator: ","))
} catch {
    FileHandle.standardError.write(Data("\(error)\n".utf8))
    exit(1)
}
