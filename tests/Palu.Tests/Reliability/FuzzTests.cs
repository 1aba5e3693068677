using System.Text;
using System.Text.Json.Nodes;
using CsCheck;
using Palu.IO;
using Palu.Models;
using Palu.Text;
using Xunit.Abstractions;

namespace Palu.Tests.Reliability;

/// <summary>
/// Fuzz tests (CsCheck): a valid safetensors header, config.json, tokenizer.json and palu.json are mutated at random
/// (a JSON value replaced by a hostile one or removed, a byte changed, the file cut short) for a bounded number of
/// cases each; every case must load correctly or fail with a <see cref="ModelFormatException"/> naming the file, never
/// another exception or a hang. CsCheck prints the seed of a failing case (rerun with CsCheck_Seed=SEED to reproduce).
/// Cases per target: <see cref="Cases"/> (120 for tokenizer.json, whose cases are slower).
/// </summary>
public class FuzzTests(ITestOutputHelper output)
{
    /// <summary>Cases per target: bounded so the four targets take a few seconds together.</summary>
    public const int Cases = 250;

    static readonly string[] Hostile =
    [
        "null", "true", "false", "0", "-1", "1", "2", "1.5", "-0.5", "1e308", "-1e308", "1e-320", "2147483647", "2147483648", "-2147483649",
        "9223372036854775807", "18446744073709551616", "\"\"", "\"x\"", "\"../../etc/passwd\"", "\"/etc/passwd\"", "\"\\u0000\"", "\"F16\"", "\"BF16\"",
        "\"I64\"", "[]", "{}", "[1,2]", "[-1,5]", "[0,1e30]", "{\"a\":1}", "\"Ω\"", "[[]]", "65536", "-2", "0.0",
    ];

    /// <summary>op (0 replace a value, 1 remove it, 2 change a byte, 3 cut the file), position, hostile value, byte.</summary>
    static readonly Gen<(int Op, int Where, int Value, byte Byte)> Mutation = Gen.Select(Gen.Int[0, 3], Gen.Int[0, 1 << 20], Gen.Int[0, Hostile.Length - 1], Gen.Byte);

    /// <summary>The mutated bytes of a JSON document.</summary>
    static byte[] Mutate(byte[] json, (int Op, int Where, int Value, byte Byte) m)
    {
        switch (m.Op)
        {
            case 0 or 1:
            {
                var root = JsonNode.Parse(json)!;
                var nodes = new List<(JsonNode Parent, string? Key, int Index)>();
                Collect(root, nodes);
                if (nodes.Count == 0) return json;
                var (parent, key, index) = nodes[m.Where % nodes.Count];
                var value = m.Op == 0 ? JsonNode.Parse(Hostile[m.Value]) : null;
                if (parent is JsonObject o)
                {
                    if (m.Op == 1) o.Remove(key!);
                    else o[key!] = value;
                }
                else if (parent is JsonArray a)
                {
                    if (m.Op == 1) a.RemoveAt(index);
                    else a[index] = value;
                }
                return Encoding.UTF8.GetBytes(root.ToJsonString());
            }
            case 2:
            {
                var b = (byte[])json.Clone();
                b[m.Where % b.Length] = m.Byte;
                return b;
            }
            default:
                return json[..(m.Where % json.Length)];
        }
    }

    static void Collect(JsonNode node, List<(JsonNode, string?, int)> into)
    {
        if (node is JsonObject o)
            foreach (var (k, v) in o.ToList())
            {
                into.Add((o, k, -1));
                if (v != null) Collect(v, into);
            }
        else if (node is JsonArray a)
            for (int i = 0; i < a.Count; i++)
            {
                into.Add((a, null, i));
                if (a[i] is { } v) Collect(v, into);
            }
    }

    /// <summary>Runs a target: every case either passes <paramref name="load"/> or throws a ModelFormatException.</summary>
    void Fuzz(string target, Action<(int Op, int Where, int Value, byte Byte)> load, int cases = Cases)
    {
        int loaded = 0, refused = 0;
        Mutation.Sample(m =>
        {
            try { load(m); Interlocked.Increment(ref loaded); }
            catch (ModelFormatException) { Interlocked.Increment(ref refused); }
        }, writeLine: output.WriteLine, iter: cases, threads: 1, print: m => $"{target}: op {m.Op}, where {m.Where}, value {Hostile[m.Value]}, byte {m.Byte}");
        output.WriteLine($"{target}: {cases} cases, {loaded} loaded, {refused} refused with a clear error");
        Assert.True(refused > 0, "the mutations never hit anything");
    }

    [Fact]
    public void SafetensorsHeaders()
    {
        using var tmp = TestPaths.Temp();
        RandomCheckpoint.Write(tmp.File("m"), new RandomModelSpec { Hidden = 16, Layers = 1, Heads = 2, KvHeads = 1, HeadDim = 8, Ffn = 32, Vocab = 32 }, seed: 1);
        var file = File.ReadAllBytes(Path.Combine(tmp.File("m"), "model.safetensors"));
        int n = (int)BitConverter.ToUInt64(file, 0);
        byte[] header = file[8..(8 + n)], data = file[(8 + n)..];
        string path = tmp.File("fuzz.safetensors");
        Fuzz("safetensors", m =>
        {
            byte[] bytes;
            if (m.Op <= 1)
            {
                var h = Mutate(header, m);
                bytes = [.. BitConverter.GetBytes((ulong)h.Length), .. h, .. data];
            }
            else bytes = Mutate(file, m);   // the length field, header and data alike
            File.WriteAllBytes(path, bytes);
            using var f = SafetensorsFile.Open(path);
            foreach (var t in f.Tensors.Values)
            {
                Assert.InRange(t.Offset, 8, bytes.Length);
                Assert.InRange(t.Offset + t.Length, t.Offset, bytes.Length);
                if (t.Length < int.MaxValue) _ = f.GetBytes(t).ToArray();
            }
        });
    }

    [Fact]
    public void ConfigJson()
    {
        using var tmp = TestPaths.Temp();
        var config = File.ReadAllBytes(Path.Combine(TestPaths.Model("tiny"), "config.json"));
        string path = tmp.File("config.json");
        Fuzz("config.json", m =>
        {
            File.WriteAllBytes(path, Mutate(config, m));
            var c = ModelConfig.Load(path);
            Assert.True(c.HiddenSize > 0 && c.NumLayers > 0 && c.NumKvHeads > 0 && c.NumHeads % c.NumKvHeads == 0 && c.HeadDim > 0 && c.VocabSize > 0);
            Assert.True(c.RmsNormEps > 0 && double.IsFinite(c.RmsNormEps) && c.RopeTheta > 0 && double.IsFinite(c.RopeTheta) && c.MaxPositionEmbeddings > 0);
        });
    }

    [Fact]
    public void TokenizerJson()
    {
        using var tmp = TestPaths.Temp();
        var json = File.ReadAllBytes(Path.Combine(TestPaths.Model("stories260k"), "tokenizer.json"));
        string path = tmp.File("tokenizer.json");
        Fuzz("tokenizer.json", m =>
        {
            File.WriteAllBytes(path, Mutate(json, m));
            var t = Tokenizer.FromFile(path);
            var ids = t.Encode("Once upon a time, 42 naïve cats — ünïcode!", addSpecialTokens: true);
            Assert.All(ids, id => Assert.InRange(id, 0, t.VocabSize - 1));
            _ = t.Decode(ids);
        }, cases: 120);
    }

    [Fact]
    public void PaluJson()
    {
        using var tmp = TestPaths.Temp();
        RandomCheckpoint.Write(tmp.File("dense"), new RandomModelSpec { Hidden = 32, Layers = 2, Heads = 4, KvHeads = 2, HeadDim = 8, Ffn = 48, Vocab = 64 }, seed: 2);
        ExactLatentCheckpoint.Write(tmp.File("dense"), tmp.File("latent"), [[0], [1]]);
        string plan = Path.Combine(tmp.File("latent"), CompressionPlan.FileName);
        var json = File.ReadAllBytes(plan);
        Fuzz("palu.json", m =>
        {
            File.WriteAllBytes(plan, Mutate(json, m));
            using var md = ModelDirectory.Open(tmp.File("latent"));
            using var lm = ModelLoader.Load(md);
            var hidden = new float[3 * lm.Hidden];   // [T, d]
            using var seq = lm.NewSequence(3);
            lm.Forward([1, 2, 3], seq, hidden);
        });
    }
}
