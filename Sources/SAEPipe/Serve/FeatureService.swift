import Foundation
import SAEPipeCore
import SAEPipeEngine

/// `saepipe serve`'s API without the HTTP server around it, so tests call it directly:
/// `POST /api/activations` and `GET /api/features/{sae}/{id}` as status codes and JSON bodies.
public final class FeatureService: Sendable {
    public struct Reply: Sendable {
        public var status: Int
        public var body: Data
    }

    /// Texts longer than this many bytes are refused with 413 before anything is parsed.
    public static let maxRequestBytes = 64 << 10

    public struct FeaturePage: Encodable {
        var sae: String
        var feature: Int
        var label: String
        var `class`: String
        var frequency: [String: Double]
        @EncodedAsNull var log2Ratio: Double?
        @EncodedAsNull var ablation: FeatureSummaryFile.Ablation?
        @EncodedAsNull var matched: MatchingFile.Feature?
        var record: FeatureStore.Record
        enum CodingKeys: String, CodingKey {
            case sae, feature, label, `class`, frequency, log2Ratio = "log2_ratio", ablation, matched, record
        }
    }

    let probe: ActivationProbe
    let stores: [Side: FeatureStore.Reader]
    let summaries: [Side: [Side: [FeatureSummaryFile.Feature]]]
    let matching: MatchingFile?

    public init(runDirectory: String, probe: ActivationProbe) throws {
        self.probe = probe
        var stores: [Side: FeatureStore.Reader] = [:], summaries: [Side: [Side: [FeatureSummaryFile.Feature]]] = [:]
        for sae in Side.allCases where FileSystem.exists("\(runDirectory)/features/\(FeatureStore.fileName(sae: sae))") {
            stores[sae] = try FeatureStore.Reader(path: "\(runDirectory)/features/\(FeatureStore.fileName(sae: sae))")
            for data in Side.allCases {
                let path = "\(runDirectory)/features/\(FeatureSummaryFile.fileName(sae: sae, data: data))"
                if FileSystem.exists(path) { summaries[sae, default: [:]][data] = try FeatureSummaryFile.read(path).features }
            }
        }
        self.stores = stores
        self.summaries = summaries
        let matchingPath = "\(runDirectory)/\(MatchingFile.fileName)"
        matching = FileSystem.exists(matchingPath) ? try MatchingFile.read(matchingPath) : nil
    }

    /// `POST /api/activations` with `{"text": "…"}`.
    public func activations(body: Data) -> Reply {
        guard body.count <= Self.maxRequestBytes else {
            return error(413, "the request is \(body.count) bytes; the limit is \(Self.maxRequestBytes)")
        }
        guard String(data: body, encoding: .utf8) != nil else { return error(400, "the request body is not valid UTF-8") }
        struct Request: Decodable { var text: String }
        guard let request = try? JSONDecoder().decode(Request.self, from: body) else {
            return error(400, "send a JSON object with a string field \"text\", e.g. {\"text\": \"def f(x):\"}")
        }
        guard !request.text.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty else { return error(400, "the text is empty") }
        do {
            return reply(200, try probe.run(request.text))
        } catch let tooLong as ActivationProbe.TooLong {
            return error(413, "the text is \(tooLong.tokens) tokens; the limit is \(tooLong.limit) (the window length the SAEs were trained on, collect.seq_len)")
        } catch {
            return self.error(500, "the model or SAE pass failed: \(error)")
        }
    }

    /// `GET /api/features/{sae}/{id}`: the feature's numbers, label, match and page record.
    public func feature(sae: String, id: String) -> Reply {
        guard let side = Side(rawValue: sae.uppercased()), let store = stores[side] else {
            return error(404, "no SAE \(sae) in this run; it has " + stores.keys.map(\.rawValue).sorted().joined(separator: ", "))
        }
        guard let index = Int(id), index >= 0, index < store.features else {
            return error(404, "no feature \(id) in SAE \(side): its features are 0–\(store.features - 1)")
        }
        do {
            let own = summaries[side]?[side]?[index]
            var frequency: [String: Double] = [:]
            for (data, list) in summaries[side] ?? [:] where index < list.count { frequency[data.rawValue] = list[index].frequency }
            let page = FeaturePage(
                sae: side.rawValue, feature: index, label: own?.label ?? "", class: own?.featureClass ?? "", frequency: frequency,
                log2Ratio: own?.selectivityLog2Ratio, ablation: own?.ablation, matched: matching?.features(of: side)[safe: index],
                record: try store.record(index))
            return reply(200, page)
        } catch {
            return self.error(500, "feature \(index) of SAE \(side) is unreadable: \(error)")
        }
    }

    public var maxTokens: Int { probe.maxTokens }

    func reply(_ status: Int, _ value: some Encodable) -> Reply {
        do {
            return Reply(status: status, body: try JSONFile.encode(value, pretty: false))
        } catch {
            return self.error(500, "the reply could not be encoded: \(error)")
        }
    }

    func error(_ status: Int, _ message: String) -> Reply { Self.errorReply(status, message) }

    /// `{"error": message}` with that status.
    public static func errorReply(_ status: Int, _ message: String) -> Reply {
        Reply(status: status, body: (try? JSONFile.encode(["error": message], pretty: false)) ?? Data())
    }
}

extension Array {
    subscript(safe index: Int) -> Element? { indices.contains(index) ? self[index] : nil }
}
