import EngineTestSupport
import Foundation
import SAEPipe
import SAEPipeCore
import SAEPipeEngine

// Runs a pipeline in its own process, from the project directory the test prepared:
//   EngineTestHelper CONFIG [--until STAGE]        the test pipeline
//   EngineTestHelper sweep CONFIG VARIANT STAGE     the product sweep; SIGKILLs itself once
//                                                   VARIANT's STAGE has written its output
//                                                   but before the output is committed
let arguments = Array(CommandLine.arguments.dropFirst())
do {
    if arguments.first == "sweep", arguments.count == 4 {
        let (victim, stageId) = (arguments[2], arguments[3])
        let definition = try SweepDefinition.load(configPath: arguments[1], stages: { config in
            try PipelineStages.stages(for: config).map { stage in
                guard config[path: "run_name"].stringValue == victim, stage.id.rawValue == stageId else { return stage }
                var killed = stage
                killed.run = { context in
                    try stage.run(context)
                    kill(getpid(), SIGKILL)
                }
                return killed
            }
        })
        _ = try SweepRunner(definition).run()
    } else {
        let experiment = try TestPipeline.load(arguments[0])
        let until = arguments.count > 2 && arguments[1] == "--until" ? arguments[2] : nil
        let report = try experiment.runner().run(RunOptions(selection: RunSelection(until: until)))
        print(report.ranStages.map(\.rawValue).joined(separator: ","))
    }
} catch {
    FileHandle.standardError.write(Data("\(error)\n".utf8))
    exit(1)
}
