import ArgumentParser
import Foundation
import SAEPipeCore
import SAEPipeModels

struct TokenizeCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "tokenize", abstract: "Print token ids as JSON (no BOS/EOS added).")

    @Option(help: "A local model directory (tokenizer.json) or a .gguf file.")
    var model: String
    @Option(help: "Text to tokenize.")
    var text: String?
    @Option(help: "A file whose whole content is one text.")
    var file: String?
    @Option(help: "A JSONL file: one array of ids per line, from --field.")
    var jsonl: String?
    @Option(help: "The JSONL field holding the text.")
    var field: String = "text"

    func validate() throws {
        guard [text, file, jsonl].compactMap({ $0 }).count == 1 else {
            throw ValidationError("give exactly one of --text, --file, --jsonl")
        }
    }

    func run() throws {
        let tokenizer = try Tokenizer.load(model: model)
        if let text {
            print(json(tokenizer.encode(text)))
        } else if let file {
            print(json(tokenizer.encode(try readText(file))))
        } else if let jsonl {
            for (index, line) in try readText(jsonl).split(separator: "\n", omittingEmptySubsequences: false).enumerated()
            where !line.trimmingCharacters(in: .whitespaces).isEmpty {
                let location = SourceLocation(file: jsonl, line: index + 1, column: 1)
                guard let object = (try? JSONSerialization.jsonObject(with: Data(line.utf8))) as? [String: Any] else {
                    throw SAEPipeError.input("line is not a JSON object", at: location)
                }
                guard let value = object[field] as? String else {
                    throw SAEPipeError.input("no string field `\(field)`", at: location, key: field,
                                             hint: "fields here: " + object.keys.sorted().joined(separator: ", "))
                }
                print(json(tokenizer.encode(value)))
            }
        }
    }

    private func readText(_ path: String) throws -> String {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw SAEPipeError.input("cannot read file", file: path)
        }
        return String(decoding: data, as: UTF8.self)
    }

    private func json(_ ids: [Int]) -> String { "[" + ids.map(String.init).joined(separator: ",") + "]" }
}
