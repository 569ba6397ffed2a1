import Foundation

/// Where a project keeps its caches and run directories (relative paths are taken
/// from the current directory, the project root).
public struct ProjectPaths: Sendable {
    public var artifacts: String
    public var outputs: String

    public init(artifacts: String = "artifacts", outputs: String = "outputs") {
        self.artifacts = artifacts
        self.outputs = outputs
    }

    public var cache: String { "\(artifacts)/cache" }
    public var fileHashStore: String { "\(artifacts)/cache/.file-hashes.json" }
    public func runDirectory(_ runName: String) -> String { "\(outputs)/\(runName)" }
}
