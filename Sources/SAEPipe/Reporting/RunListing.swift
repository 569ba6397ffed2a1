import Foundation
import SAEPipeCore
import SAEPipeEngine

/// `saepipe runs`: the run directories under `outputs/`, each with when it ran, its config
/// files and how its config differs from the run that holds its bare `run_name`.
public enum RunListing {
    public struct Run: Sendable {
        /// The directory name under outputs/.
        public var name: String
        public var manifest: RunManifest
    }

    /// Every directory of `outputs` with a readable run manifest, by name.
    public static func runs(outputs: String) -> [Run] {
        FileSystem.listDirectories(in: outputs).sorted().compactMap { name in
            (try? RunManifest.read(runDirectory: "\(outputs)/\(name)")).map { Run(name: name, manifest: $0) }
        }
    }

    /// The sweep names under `outputs/sweeps`.
    public static func sweeps(outputs: String) -> [String] {
        FileSystem.listDirectories(in: "\(outputs)/sweeps").sorted().filter { SweepExport.isSweep("\(outputs)/sweeps/\($0)") }
    }

    /// The listing: one block per run; a suffixed run shows its differences from its namesake.
    public static func render(outputs: String, width: Int = 80) -> String {
        let runs = runs(outputs: outputs)
        guard !runs.isEmpty else { return "no runs in \(outputs)/ yet: `saepipe run CONFIG` makes one\n" }
        let byName = Dictionary(runs.map { ($0.name, $0) }, uniquingKeysWith: { a, _ in a })
        let defaults = ExperimentSchema.schema.defaults()
        var lines: [String] = []
        for run in runs {
            let m = run.manifest
            let stages = m.stages.filter { $0.status != .notRun }.count
            lines.append("\(run.name)  \(m.started.prefix(16).replacingOccurrences(of: "T", with: " "))  \(stages)/\(m.stages.count) stages  from \(m.configFiles.last ?? "?")")
            if run.name != m.runName, let namesake = byName[m.runName] {
                let (before, now) = RunLocation.comparable(namesake.manifest.config, m.config, defaults: defaults)
                let changes = Planner.configChanges(old: before, new: now).map { $0.replacingOccurrences(of: "config ", with: "") }
                for change in changes.prefix(8) {
                    lines += StatusReport.wrap(change, width: width, first: "  - ", rest: "    ")
                }
                if changes.count > 8 { lines.append("    … \(changes.count - 8) more differences from \(m.runName)") }
            }
        }
        let sweeps = sweeps(outputs: outputs)
        if !sweeps.isEmpty { lines.append("sweeps in \(outputs)/sweeps/: " + sweeps.joined(separator: ", ")) }
        return lines.joined(separator: "\n") + "\n"
    }
}
