using System.Text.Json.Nodes;
using Palu.IO;
using Palu.Models;
using Palu.Tensors;

namespace Palu.Tests.IO;

public class ModelDirectoryTests
{
    static float[] RunLogits(CausalLM lm, int[] ids)
    {
        using var cache = lm.NewSequence(ids.Length);
        var hidden = new float[ids.Length * lm.Hidden];
        lm.Forward(ids, cache, hidden);
        var logits = new float[ids.Length * lm.Vocab];
        lm.Logits(hidden, logits, ids.Length);
        return logits;
    }

    [Fact]
    public void ShardedCopyOfTinyLoadsLikeOneFile()
    {
        using var tmp = TestPaths.Temp();
        string tinyDir = TestPaths.Model("tiny");
        using (var src = SafetensorsFile.Open(Path.Combine(tinyDir, "model.safetensors")))
        {
            var tensors = src.Tensors.Values.OrderBy(t => t.Name, StringComparer.Ordinal).Select(t =>
            {
                var bytes = src.GetBytes(t.Name).ToArray();
                return new TensorToWrite(t.Name, t.DType, t.Shape, () => bytes);
            }).ToList();
            SafetensorsWriter.WriteSharded(tmp.Path, tensors, maxShardBytes: 1 << 20);
        }
        File.Copy(Path.Combine(tinyDir, "config.json"), tmp.File("config.json"));
        Assert.True(Directory.GetFiles(tmp.Path, "model-*-of-*.safetensors").Length >= 4);

        int[] ids = [0, 406, 3081, 276, 1782, 274];
        using var single = CausalLM.Load(tinyDir);
        using var sharded = CausalLM.Load(tmp.Path);
        Assert.Equal(RunLogits(single, ids), RunLogits(sharded, ids));
    }

    [Fact]
    public unsafe void WeightsAreZeroCopyViewsOfTheMapping()
    {
        using var md = ModelDirectory.Open(TestPaths.Model("tiny"));
        var info = md.Info("model.layers.1.self_attn.q_proj.weight");
        var w = md.Matrix(info.Name, 192, 192);
        var file = Assert.IsType<SafetensorsFile>(w.Owner);
        Assert.True(w.Data == file.DataPointer(info));
        Assert.Equal(DType.BF16, w.DType);
    }

    static string RandomModel(TempDir tmp, RandomModelSpec? spec = null)
    {
        RandomCheckpoint.Write(tmp.Path, spec ?? new RandomModelSpec(), seed: 1);
        return tmp.Path;
    }

    static void EditConfig(string dir, Action<JsonObject> edit)
    {
        var o = JsonNode.Parse(File.ReadAllText(Path.Combine(dir, "config.json")))!.AsObject();
        edit(o);
        File.WriteAllText(Path.Combine(dir, "config.json"), o.ToJsonString());
    }

    [Fact]
    public void ConfigFieldMissingIsNamed()
    {
        using var tmp = TestPaths.Temp();
        string dir = RandomModel(tmp);
        EditConfig(dir, o => o.Remove("hidden_size"));
        var e = Assert.Throws<ModelFormatException>(() => CausalLM.Load(dir));
        Assert.Contains("config.json", e.Message);
        Assert.Contains("'hidden_size'", e.Message);
    }

    [Theory]
    [InlineData("architectures", "[\"GPT2LMHeadModel\"]", "GPT2LMHeadModel")]
    [InlineData("hidden_act", "\"gelu\"", "hidden_act")]
    [InlineData("rope_scaling", "{\"rope_type\":\"yarn\",\"factor\":4}", "yarn")]
    [InlineData("num_key_value_heads", "3", "num_key_value_heads")]
    public void UnsupportedConfigIsNamed(string field, string json, string expected)
    {
        using var tmp = TestPaths.Temp();
        string dir = RandomModel(tmp);
        EditConfig(dir, o => o[field] = JsonNode.Parse(json));
        var e = Assert.Throws<ModelFormatException>(() => CausalLM.Load(dir));
        Assert.Contains(expected, e.Message);
    }

    [Fact]
    public void MissingTensorIsNamed()
    {
        using var tmp = TestPaths.Temp();
        string dir = RandomModel(tmp);
        RewriteWeights(dir, ts => ts.Where(t => t.Name != "model.layers.1.mlp.up_proj.weight"));
        var e = Assert.Throws<ModelFormatException>(() => CausalLM.Load(dir));
        Assert.Contains("model.layers.1.mlp.up_proj.weight", e.Message);
        Assert.Contains("missing", e.Message);
    }

    [Fact]
    public void WrongShapeIsNamed()
    {
        using var tmp = TestPaths.Temp();
        string dir = RandomModel(tmp);
        RewriteWeights(dir, ts => ts.Select(t => t.Name == "model.layers.0.self_attn.k_proj.weight"
            ? TensorToWrite.FromFloats(t.Name, new float[64 * 33], [33, 64]) : t));
        var e = Assert.Throws<ModelFormatException>(() => CausalLM.Load(dir));
        Assert.Contains("model.layers.0.self_attn.k_proj.weight", e.Message);
        Assert.Contains("[33, 64]", e.Message);
        Assert.Contains("[32, 64]", e.Message);
    }

    [Fact]
    public void NoWeightsIsExplained()
    {
        using var tmp = TestPaths.Temp();
        string dir = RandomModel(tmp);
        File.Delete(Path.Combine(dir, "model.safetensors"));
        var e = Assert.Throws<ModelFormatException>(() => CausalLM.Load(dir));
        Assert.Contains("model.safetensors", e.Message);
    }

    static void RewriteWeights(string dir, Func<IEnumerable<TensorToWrite>, IEnumerable<TensorToWrite>> edit)
    {
        string path = Path.Combine(dir, "model.safetensors");
        List<TensorToWrite> tensors;
        using (var f = SafetensorsFile.Open(path))
            tensors = f.Tensors.Values.Select(t => { var b = f.GetBytes(t.Name).ToArray(); return new TensorToWrite(t.Name, t.DType, t.Shape, () => b); }).ToList();
        SafetensorsWriter.Write(path, edit(tensors).ToList());
    }
}
