using System.Text;
using System.Text.Json.Nodes;
using Palu.Evaluation;
using Palu.Generation;
using Palu.IO;
using Palu.Models;
using Palu.Text;

namespace Palu.Tests.Reliability;

/// <summary>
/// One test (or theory row) per fault kind of issue 13, at the library boundary: each bad input is an error that names
/// the file or option, the field and the value, never a silent wrong result. The CLI-level cases are in the
/// catalogue (tools/reliability/catalogue.py, docs/reliability-catalogue.md) and <see cref="CliReliabilityTests"/>.
/// </summary>
public class InputValidationTests
{
    static readonly RandomModelSpec Spec = new() { Hidden = 32, Layers = 2, Heads = 4, KvHeads = 2, HeadDim = 8, Ffn = 48, Vocab = 64 };

    static string Model(TempDir tmp, RandomModelSpec? spec = null, string name = "m")
    {
        RandomCheckpoint.Write(tmp.File(name), spec ?? Spec, seed: 11);
        return tmp.File(name);
    }

    /// <summary>Overwrites elements of a tensor in place with raw bit patterns (2 or 4 bytes each).</summary>
    internal static void Poke(string model, string tensor, uint bits, int count = 1)
    {
        string file = Path.Combine(model, "model.safetensors");
        TensorInfo t;
        using (var f = SafetensorsFile.Open(file)) t = f.Tensors[tensor];
        int size = Tensors.DTypes.Size(t.DType);
        using var fs = new FileStream(file, FileMode.Open, FileAccess.Write);
        for (int i = 0; i < count; i++)
        {
            fs.Position = t.Offset + i * size;
            fs.Write(size == 4 ? BitConverter.GetBytes(bits) : BitConverter.GetBytes((ushort)bits));
        }
    }

    static void EditConfig(string model, Action<JsonObject> edit)
    {
        string p = Path.Combine(model, "config.json");
        var o = JsonNode.Parse(File.ReadAllText(p))!.AsObject();
        edit(o);
        File.WriteAllText(p, o.ToJsonString());
    }

    // ---- config.json ranges and types

    public static TheoryData<string, string> BadConfigValues => new()
    {
        { "rms_norm_eps", "-1" }, { "rms_norm_eps", "0" }, { "rope_theta", "0" }, { "rope_theta", "-5" }, { "hidden_size", "2.5" },
        { "hidden_size", "-32" }, { "hidden_size", "\"32\"" }, { "num_hidden_layers", "0" }, { "vocab_size", "1e20" },
        { "max_position_embeddings", "0" }, { "max_position_embeddings", "1000000000" }, { "head_dim", "7" }, { "bos_token_id", "99999" },
        { "eos_token_id", "[1, \"x\"]" }, { "num_key_value_heads", "3" },
    };

    [Theory]
    [MemberData(nameof(BadConfigValues))]
    public void ConfigValueOutOfRangeNamesTheField(string field, string value)
    {
        using var tmp = TestPaths.Temp();
        string m = Model(tmp);
        EditConfig(m, o => o[field] = JsonNode.Parse(value));
        var e = Assert.Throws<ModelFormatException>(() => ModelConfig.Load(Path.Combine(m, "config.json")));
        Assert.Contains("config.json", e.Message);
        Assert.Contains(field, e.Message);
        Assert.Contains("fix", e.Message);
    }

    [Fact]
    public void ConfigWithFewerLayersThanTheFileIsRefused()
    {
        using var tmp = TestPaths.Temp();
        string m = Model(tmp);
        EditConfig(m, o => o["num_hidden_layers"] = 1);
        var e = Assert.Throws<ModelFormatException>(() => CausalLM.Load(m));
        Assert.Contains("num_hidden_layers", e.Message);
        Assert.Contains("set num_hidden_layers to 2", e.Message);
    }

    // ---- index.json confinement

    [Theory]
    [InlineData("../x.safetensors")]
    [InlineData("/etc/passwd")]
    [InlineData("sub/../../x.safetensors")]
    [InlineData("config.json")]
    public void IndexShardsAreConfinedToTheModelDirectory(string shard)
    {
        using var tmp = TestPaths.Temp();
        string m = Model(tmp);
        File.Move(Path.Combine(m, "model.safetensors"), Path.Combine(m, "a.safetensors"));
        File.Copy(Path.Combine(m, "a.safetensors"), tmp.File("x.safetensors"));
        using (var f = SafetensorsFile.Open(Path.Combine(m, "a.safetensors")))
        {
            var map = f.Tensors.Keys.ToDictionary(k => k, k => (JsonNode?)JsonValue.Create(k == "model.norm.weight" ? shard : "a.safetensors"));
            File.WriteAllText(Path.Combine(m, "model.safetensors.index.json"), new JsonObject { ["weight_map"] = new JsonObject(map) }.ToJsonString());
        }
        var e = Assert.Throws<ModelFormatException>(() => ModelDirectory.Open(m));
        Assert.Contains("model.safetensors.index.json", e.Message);
        Assert.Contains(shard, e.Message);
    }

    // ---- weights: NaN/Inf and lying dtype labels

    [Theory]
    [InlineData("model.layers.1.self_attn.q_proj.weight", 0x7FC00000u)]   // NaN
    [InlineData("model.embed_tokens.weight", 0x7F800000u)]                // +Inf
    [InlineData("model.norm.weight", 0xFF800000u)]                        // -Inf
    public void NonFiniteWeightIsFoundAtLoadAndNamed(string tensor, uint bits)
    {
        using var tmp = TestPaths.Temp();
        string m = Model(tmp);
        Poke(m, tensor, bits);
        var e = Assert.Throws<ModelFormatException>(() => CausalLM.Load(m));
        Assert.Contains(tensor, e.Message);
        Assert.Contains("non-finite", e.Message);
    }

    [Fact]
    public void NonFiniteLogitsAreAnErrorNamingTheLayerWhenTheScanIsSkipped()
    {
        using var tmp = TestPaths.Temp();
        string m = Model(tmp);
        Poke(m, "model.layers.1.self_attn.q_proj.weight", 0x7FC00000u, count: 40);
        using var lm = CausalLM.Load(m, new LoadOptions { CheckWeights = false });
        var e = Assert.Throws<ModelFormatException>(() => Perplexity.Evaluate(lm, [([1, 2, 3, 4, 5, 6], 1)]));
        Assert.Contains("non-finite logits", e.Message);
        Assert.Contains("layer 1", e.Message);
        using var g = new Generator(lm, new SamplingOptions(), 4);
        Assert.Throws<ModelFormatException>(() => g.AppendTokens([1, 2, 3]));
    }

    [Fact]
    public void Bf16BytesLabelledF16AreRefusedAndRealF16Loads()
    {
        using var tmp = TestPaths.Temp();
        string bf = Model(tmp, Spec with { DType = Tensors.DType.BF16, Std = 0.02f }, "bf16");
        string f16 = Model(tmp, Spec with { DType = Tensors.DType.F16, Std = 0.02f }, "f16");
        using (CausalLM.Load(f16)) { }
        string file = Path.Combine(bf, "model.safetensors");
        var bytes = File.ReadAllBytes(file);
        int n = (int)BitConverter.ToUInt64(bytes, 0);
        string header = Encoding.UTF8.GetString(bytes, 8, n).Replace("\"BF16\"", "\"F16\" ");   // same length: the data offsets stay
        Assert.Equal(n, Encoding.UTF8.GetByteCount(header));
        Encoding.UTF8.GetBytes(header).CopyTo(bytes, 8);
        File.WriteAllBytes(file, bytes);
        var e = Assert.Throws<ModelFormatException>(() => CausalLM.Load(bf));
        Assert.Contains("BF16 data labelled F16", e.Message);
    }

    // ---- safetensors damage names the file

    [Fact]
    public void InvalidUtf8HeaderNamesTheFile()
    {
        using var tmp = TestPaths.Temp();
        string p = tmp.File("x.safetensors");
        byte[] header = [(byte)'{', (byte)'"', 0xFF, 0xFE, (byte)'"', (byte)':', (byte)'1', (byte)'}'];
        File.WriteAllBytes(p, [.. BitConverter.GetBytes((ulong)header.Length), .. header]);
        var e = Assert.Throws<ModelFormatException>(() => SafetensorsFile.Open(p));
        Assert.Contains(p, e.Message);
    }

    [Fact]
    public void ElementCountOverflowIsAClearError()
    {
        using var tmp = TestPaths.Temp();
        string p = tmp.File("x.safetensors");
        var header = Encoding.UTF8.GetBytes("{\"w\":{\"dtype\":\"F32\",\"shape\":[4611686018427387904,4611686018427387904],\"data_offsets\":[0,4]}}");
        File.WriteAllBytes(p, [.. BitConverter.GetBytes((ulong)header.Length), .. header, 0, 0, 0, 0]);
        var e = Assert.Throws<ModelFormatException>(() => SafetensorsFile.Open(p));
        Assert.Contains(p, e.Message);
    }

    // ---- palu.json edits are blamed on palu.json

    [Fact]
    public void EditedRankInPaluJsonIsBlamedOnPaluJson()
    {
        using var tmp = TestPaths.Temp();
        string dense = Model(tmp);
        ExactLatentCheckpoint.Write(dense, tmp.File("latent"), [[0], [1]]);
        string plan = Path.Combine(tmp.File("latent"), CompressionPlan.FileName);
        var o = JsonNode.Parse(File.ReadAllText(plan))!.AsObject();
        o["modules"]![0]!["groups"]![0]!["rank"] = 5;
        File.WriteAllText(plan, o.ToJsonString());
        var e = Assert.Throws<ModelFormatException>(() => CausalLM.Load(tmp.File("latent")));
        Assert.StartsWith(plan, e.Message);
        Assert.DoesNotContain("from config.json", e.Message);
    }

    // ---- output targets

    [Fact]
    public void OutputBelowAFileOrEqualToAnInputIsRefused()
    {
        using var tmp = TestPaths.Temp();
        File.WriteAllText(tmp.File("file"), "x");
        Directory.CreateDirectory(tmp.File("in"));
        var below = Assert.Throws<ArgumentException>(() => OutputTarget.CheckDirectory(Path.Combine(tmp.File("file"), "x"), "--out", false, tmp.File("in")));
        Assert.Contains("which is a file", below.Message);
        Directory.CreateSymbolicLink(tmp.File("link"), tmp.File("in"));
        Assert.Contains("is the input", Assert.Throws<ArgumentException>(() => OutputTarget.CheckDirectory(tmp.File("link"), "--out", true, tmp.File("in"))).Message);
        Assert.Contains("is a parent", Assert.Throws<ArgumentException>(() => OutputTarget.CheckDirectory(tmp.Path, "--out", true, tmp.File("in"))).Message);
        Assert.Contains("inside", Assert.Throws<ArgumentException>(() => OutputTarget.CheckFile(Path.Combine(tmp.File("link"), "f"), "--out", tmp.File("in"))).Message);
        OutputTarget.CheckDirectory(tmp.File("new/deep"), "--out", false, tmp.File("in"));   // fine
    }

    // ---- text inputs

    public static TheoryData<string, byte[]> BadTexts => new()
    {
        { "binary", [0x00, 0x01, 0x02, 0xFF, 0x10, 0x00, 0x9C] },
        { "UTF-16", Encoding.Unicode.GetPreamble().Concat(Encoding.Unicode.GetBytes("hello world")).ToArray() },
        { "Latin-1", Encoding.Latin1.GetBytes("café naïve résumé") },
    };

    [Theory]
    [MemberData(nameof(BadTexts))]
    public void NonUtf8TextIsRefusedWithACountUnlessAllowed(string kind, byte[] bytes)
    {
        using var tmp = TestPaths.Temp();
        string p = tmp.File(kind + ".txt");
        File.WriteAllBytes(p, bytes);
        var e = Assert.Throws<ModelFormatException>(() => TextInput.Read(p, "--data"));
        Assert.Contains("--allow-invalid-text", e.Message);
        Assert.Matches(@"\d+ (invalid UTF-8|control|.*byte-order)", e.Message);
        var warnings = new List<string>();
        var (allow, warn) = (TextInput.AllowInvalid, TextInput.Warn);
        try
        {
            TextInput.AllowInvalid = true;
            TextInput.Warn = warnings.Add;
            Assert.NotNull(TextInput.Read(p, "--data"));
            Assert.Single(warnings);
        }
        finally { (TextInput.AllowInvalid, TextInput.Warn) = (allow, warn); }
    }

    [Fact]
    public void AFewStrayControlBytesAreAcceptedButNulIsNot()
    {
        var text = Encoding.UTF8.GetBytes(string.Concat(Enumerable.Repeat("Macaroons are ____\b\b\b\bvery Jewish. ", 3)) + new string('x', 20000));
        var r = TextInput.Check(text);
        Assert.Equal(12, r.ControlBytes);
        Assert.False(r.Clean);
        Assert.False(r.Binary);
        Assert.True(TextInput.Check([.. text, 0]).Binary);
    }

    [Fact]
    public void Utf8WithBomAndTabsIsClean()
    {
        var r = TextInput.Check([0xEF, 0xBB, 0xBF, .. Encoding.UTF8.GetBytes("a\tb\r\nçé — ✓\n")]);
        Assert.True(r.Clean);
    }
}
