import ArgumentParser
import Foundation
import SAEPipe
import SAEPipeCore

/// Shell completion for arguments: config files, stage ids, `--set` keys and run names.
/// `saepipe --generate-completion-script bash|zsh|fish` writes the script (README: "Shell completion").
enum Completions {
    static let configFiles = CompletionKind.file(extensions: ["yaml", "yml", "json"])
    static let stages = CompletionKind.list(PipelineStages.stageNames)
    static let stageList = PipelineStages.stageNames.joined(separator: ", ")

    /// `key.path=` for every schema key starting with what was typed.
    static let setKeys = CompletionKind.custom { _, _, prefix in
        ExperimentSchema.schema.keyPaths().filter { !$0.contains("<") && $0.hasPrefix(prefix) }.map { "\($0)=" }
    }

    /// Run and sweep names under outputs/ (the working directory's).
    static let runNames = CompletionKind.custom { _, _, prefix in
        (RunListing.runs(outputs: "outputs").map(\.name) + RunListing.sweeps(outputs: "outputs")).filter { $0.hasPrefix(prefix) }
    }
}
