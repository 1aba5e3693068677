using Palu.IO;
using Palu.Text;

namespace Palu.Cli;

/// <summary>
/// Checks a command runs before any heavy work (model load, calibration, SVD): the output is usable and is not an
/// input, and the text inputs are UTF-8. A bad --out then fails in a second instead of after hours.
/// </summary>
public static class Preflight
{
    /// <summary>compress: --out a new or replaceable directory apart from the model and every input file.</summary>
    public static void Compress(string model, string outDir, bool overwrite, string? calib, string? fisherFile, string? fisherCache)
    {
        RequireModelDir(model);
        if (CompressionPlan.Exists(model))
            throw InputError.Option("MODEL", model, $"is already compressed (it has {CompressionPlan.FileName})", "compress the original checkpoint (the dense one, without palu.json)");
        OutputTarget.CheckDirectory(outDir, "--out", overwrite, model, calib, fisherFile);
        if (fisherCache != null) OutputTarget.CheckNotInput(fisherCache, "--fisher-cache", model, calib);
        if (calib != null) CheckText(calib, "--calib");
    }

    /// <summary>fisher: --out a file that is not an input and not inside the model directory.</summary>
    public static void Fisher(string model, string outFile, string calib, string? cacheDir)
    {
        RequireModelDir(model);
        OutputTarget.CheckFile(outFile, "--out", model, calib);
        // a cached result must not hide a broken model: scan the weights before the cache is looked at
        if (WeightCheck.Enabled)
            using (var md = ModelDirectory.Open(model)) WeightCheck.Require(md);
        if (cacheDir != null) OutputTarget.CheckNotInput(cacheDir, "--cache-dir", model, calib);
        CheckText(calib, "--calib");
    }

    static void RequireModelDir(string model)
    {
        if (File.Exists(model))
            throw InputError.Option("MODEL", model, "is a file; a model is a directory (config.json, *.safetensors, tokenizer.json)", "pass the folder that holds the file");
        if (!Directory.Exists(model)) throw InputError.Option("MODEL", model, "directory not found", "check the path");
    }

    static void CheckText(string file, string option)
    {
        if (!File.Exists(file)) throw InputError.File(file, $"{option}: file not found", "check the path");
        TextInput.Read(file, option);
    }
}
