import Foundation

/// A small project on the tiny GPT-NeoX fixture: a prose file, a JSONL code file (with a
/// language column to filter on) and `config.yaml` reading them. Shared by the tests and the
/// helper process that tests kill mid-sweep.
public enum TinyProject {
    public static func write(in directory: String, model: String, collectExtra: String = "", extraConfig: String = "") throws {
        var prose = ""
        for i in 0..<60 { prose += "The river \(i) runs past the old mill, and the miller's daughter sings.\n\n" }
        try save(prose, to: "\(directory)/prose.txt")
        var code = ""
        for i in 0..<40 {
            let source = "def f\(i)(x):\n    return x * \(i) + 1\n\nclass C\(i):\n    pass\n"
            let language = i % 4 == 3 ? "Go" : "Python"
            let object = try JSONSerialization.data(withJSONObject: ["code": source, "language": language], options: [.sortedKeys])
            code += String(decoding: object, as: UTF8.self) + "\n"
        }
        try save(code, to: "\(directory)/code.jsonl")
        let config = """
            run_name: tiny
            seed: 3
            paths: {artifacts: \(directory)/artifacts, outputs: \(directory)/outputs}
            model: {name: \(model), layer: 1, stream: mlp_output}
            collect: {tokens: 700, seq_len: 16, batch_size: 4\(collectExtra)}
            datasets:
              A: {path: \(directory)/prose.txt, split_text: blank_lines}
              B: {path: \(directory)/code.jsonl, field: code, filter: {language: Python}}

            """ + extraConfig
        try save(config, to: "\(directory)/config.yaml")
    }

    static func save(_ text: String, to path: String) throws {
        try FileManager.default.createDirectory(
            atPath: (path as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
        try text.write(toFile: path, atomically: true, encoding: .utf8)
    }
}
