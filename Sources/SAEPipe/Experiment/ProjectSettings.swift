import SAEPipeCore

/// The project-wide keys: where things are written and how many BLAS threads a stage gets.
public struct ProjectSettings: Sendable, Decodable {
    public struct Paths: Sendable, Decodable {
        public var artifacts: String
        public var outputs: String
    }

    public struct Runtime: Sendable, Decodable {
        /// 0: every core, split between concurrent jobs.
        public var blasThreads: Int
        enum CodingKeys: String, CodingKey { case blasThreads = "blas_threads" }
    }

    public var runName: String
    public var seed: UInt64
    public var paths: Paths
    public var runtime: Runtime

    enum CodingKeys: String, CodingKey { case runName = "run_name", seed, paths, runtime }

    public static func read(_ config: ConfigValue) throws -> ProjectSettings {
        try ConfigReader(config).decode(ProjectSettings.self, at: "")
    }
}
