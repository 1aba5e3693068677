using System.Text.Json;
using System.Text.RegularExpressions;
using Palu.IO;

namespace Palu.Evaluation;

/// <summary>
/// Readers for the published multiple-choice files, building the requests lm-evaluation-harness 0.4 builds for the
/// task (its YAML templates and preprocessing; zero-shot, target delimiter " "). Every problem is a
/// <see cref="ModelFormatException"/> naming the file and the 1-based line.
/// </summary>
public static class TaskReaders
{
    public static List<McItem> Read(string format, string path)
    {
        if (!File.Exists(path)) throw new ModelFormatException(path, "task file not found");
        var items = format switch
        {
            "piqa" => Piqa(path),
            "arc" => Jsonl(path, Arc),
            "openbookqa" => Jsonl(path, OpenBookQa),
            "hellaswag" => IsJsonl(path) ? Jsonl(path, HellaSwag) : HellaSwagText(path),
            "winogrande" => Jsonl(path, WinoGrande),
            "boolq" => Jsonl(path, BoolQ),
            _ => throw new ArgumentException($"unknown task format '{format}'"),
        };
        if (items.Count == 0) throw new ModelFormatException(path, "no items");
        return items;
    }

    /// <summary>A problem with one line of a task file.</summary>
    sealed class LineException(string message) : Exception(message);

    static List<McItem> Jsonl(string path, Func<JsonElement, int, McItem> parse)
    {
        var items = new List<McItem>();
        int lineNo = 0;
        foreach (string line in File.ReadLines(path))
        {
            lineNo++;
            if (string.IsNullOrWhiteSpace(line)) continue;
            items.Add(ParseLine(path, lineNo, line, parse));
        }
        return items;
    }

    static McItem ParseLine(string path, int lineNo, string line, Func<JsonElement, int, McItem> parse)
    {
        try
        {
            using var doc = JsonDocument.Parse(line);
            if (doc.RootElement.ValueKind != JsonValueKind.Object) throw new LineException("expected a JSON object");
            return parse(doc.RootElement, lineNo);
        }
        catch (JsonException e) { throw new ModelFormatException(path, $"line {lineNo}: not valid JSON ({e.Message})"); }
        catch (LineException e) { throw new ModelFormatException(path, $"line {lineNo}: {e.Message}"); }
    }

    // ---- field access ----

    static JsonElement Field(JsonElement o, string name)
    {
        if (o.ValueKind != JsonValueKind.Object) throw new LineException($"expected an object with \"{name}\", got {o.GetRawText()}");
        return o.TryGetProperty(name, out var v) && v.ValueKind != JsonValueKind.Null ? v : throw new LineException($"missing field \"{name}\"");
    }

    static string Str(JsonElement o, string name)
    {
        var v = Field(o, name);
        return v.ValueKind == JsonValueKind.String ? v.GetString()! : throw new LineException($"field \"{name}\" must be a string");
    }

    static JsonElement Arr(JsonElement o, string name)
    {
        var v = Field(o, name);
        return v.ValueKind == JsonValueKind.Array ? v : throw new LineException($"field \"{name}\" must be an array");
    }

    static string[] Strings(JsonElement o, string name) =>
        Arr(o, name).EnumerateArray().Select(e => e.ValueKind == JsonValueKind.String ? e.GetString()!
            : throw new LineException($"field \"{name}\" must hold strings, got {e.GetRawText()}")).ToArray();

    static McChoice Choice(string context, string text) => new(context, " " + text, text);

    /// <summary>The index of <paramref name="answer"/> among <paramref name="labels"/> (lm-eval: choices.label.index(answerKey)).</summary>
    static int LabelIndex(IReadOnlyList<string> labels, string answer)
    {
        for (int i = 0; i < labels.Count; i++)
            if (labels[i] == answer) return i;
        throw new LineException($"answerKey \"{answer}\" is not one of the choice labels [{string.Join(", ", labels)}]");
    }

    // ---- PIQA: valid.jsonl {goal, sol1, sol2} + valid-labels.lst (0/1 per line) ----

    static List<McItem> Piqa(string path)
    {
        string name = Path.GetFileName(path);
        string stem = name.EndsWith(".jsonl", StringComparison.Ordinal) ? name[..^6] : Path.GetFileNameWithoutExtension(name);
        string labelsPath = Path.Combine(Path.GetDirectoryName(Path.GetFullPath(path))!, stem + "-labels.lst");
        if (!File.Exists(labelsPath))
            throw new ModelFormatException(labelsPath, $"PIQA labels not found: {name} needs its labels file {stem}-labels.lst next to it");
        var labels = new List<int>();
        int lineNo = 0;
        foreach (string line in File.ReadLines(labelsPath))
        {
            lineNo++;
            if (string.IsNullOrWhiteSpace(line)) continue;
            labels.Add(line.Trim() switch
            {
                "0" => 0,
                "1" => 1,
                var s => throw new ModelFormatException(labelsPath, $"line {lineNo}: label \"{s}\" out of range (expected 0 or 1)"),
            });
        }
        var items = Jsonl(path, (o, line) =>
        {
            string ctx = $"Question: {Str(o, "goal")}\nAnswer:";
            return new McItem(line, [Choice(ctx, Str(o, "sol1")), Choice(ctx, Str(o, "sol2"))], -1);
        });
        if (items.Count != labels.Count)
            throw new ModelFormatException(labelsPath, $"has {labels.Count} labels but {name} has {items.Count} items");
        return items.Select((it, i) => it with { Gold = labels[i] }).ToList();
    }

    // ---- ARC: {id, question, choices: {text[], label[]}, answerKey} ----

    static McItem Arc(JsonElement o, int line)
    {
        string ctx = $"Question: {Str(o, "question")}\nAnswer:";
        var choices = Field(o, "choices");
        if (choices.ValueKind != JsonValueKind.Object) throw new LineException("field \"choices\" must be an object {text, label}");
        var texts = Strings(choices, "text");
        var labels = Strings(choices, "label");
        if (texts.Length != labels.Length) throw new LineException($"choices has {texts.Length} texts but {labels.Length} labels");
        if (texts.Length < 2) throw new LineException($"needs at least 2 choices, has {texts.Length}");
        return new McItem(line, texts.Select(t => Choice(ctx, t)).ToArray(), LabelIndex(labels, Str(o, "answerKey")));
    }

    // ---- OpenBookQA: {id, question: {stem, choices: [{text, label}]}, answerKey} ----

    static McItem OpenBookQa(JsonElement o, int line)
    {
        var q = Field(o, "question");
        if (q.ValueKind != JsonValueKind.Object) throw new LineException("field \"question\" must be an object {stem, choices}");
        string stem = Str(q, "stem");
        var choices = Arr(q, "choices").EnumerateArray().Select(c => (Text: Str(c, "text"), Label: Str(c, "label"))).ToArray();
        if (choices.Length < 2) throw new LineException($"needs at least 2 choices, has {choices.Length}");
        int gold = LabelIndex(choices.Select(c => c.Label).ToArray(), Str(o, "answerKey").TrimStart());
        return new McItem(line, choices.Select(c => Choice(stem, c.Text)).ToArray(), gold);
    }

    // ---- HellaSwag: {ctx_a, ctx_b | ctx, endings[], label, activity_label} ----

    static McItem HellaSwag(JsonElement o, int line)
    {
        string ctx = o.TryGetProperty("ctx_a", out _) && o.TryGetProperty("ctx_b", out _)
            ? Str(o, "ctx_a") + " " + PyText.Capitalize(Str(o, "ctx_b"))
            : Str(o, "ctx");
        string query = HellaSwagPreprocess(Str(o, "activity_label") + ": " + ctx);
        var endings = Strings(o, "endings");
        if (endings.Length < 2) throw new LineException($"needs at least 2 endings, has {endings.Length}");
        int gold = IntLabel(Field(o, "label"), "label");
        if (gold < 0 || gold >= endings.Length) throw new LineException($"label {gold} out of range [0, {endings.Length})");
        return new McItem(line, endings.Select(e => Choice(query, HellaSwagPreprocess(e))).ToArray(), gold);
    }

    static readonly Regex Bracketed = new(@"\[.*?\]", RegexOptions.CultureInvariant);

    /// <summary>lm-eval's hellaswag preprocess: strip, " [title]" → ". ", drop "[…]" tags, "  " → " ".</summary>
    public static string HellaSwagPreprocess(string text)
    {
        text = PyText.Strip(text);
        text = text.Replace(" [title]", ". ");
        text = Bracketed.Replace(text, "");
        return text.Replace("  ", " ");
    }

    static int IntLabel(JsonElement v, string name) => v.ValueKind switch
    {
        JsonValueKind.Number when v.TryGetInt32(out int i) => i,
        JsonValueKind.String when int.TryParse(v.GetString(), System.Globalization.NumberStyles.Integer,
            System.Globalization.CultureInfo.InvariantCulture, out int i) => i,
        _ => throw new LineException($"field \"{name}\" must be an integer (or a string holding one), got {v.GetRawText()}"),
    };

    static bool IsJsonl(string path) => path.EndsWith(".jsonl", StringComparison.OrdinalIgnoreCase);

    /// <summary>The lines of a text file, decompressed on the fly when its name ends in .bz2 or .gz.</summary>
    public static IEnumerable<string> ReadLines(string path)
    {
        using var reader = Compressed(path, () =>
        {
            var file = File.OpenRead(path);
            Stream s = path.EndsWith(".bz2", StringComparison.OrdinalIgnoreCase) ? new ICSharpCode.SharpZipLib.BZip2.BZip2InputStream(file)
                : path.EndsWith(".gz", StringComparison.OrdinalIgnoreCase) ? new System.IO.Compression.GZipStream(file, System.IO.Compression.CompressionMode.Decompress)
                : file;
            return new StreamReader(s, new System.Text.UTF8Encoding(false, throwOnInvalidBytes: false));
        });
        for (string? line; (line = Compressed(path, reader.ReadLine)) != null;) yield return line;
    }

    /// <summary>Runs a read of <paramref name="path"/>; a damaged .bz2/.gz is a <see cref="ModelFormatException"/> naming it.</summary>
    static T Compressed<T>(string path, Func<T> read)
    {
        try { return read(); }
        catch (Exception e) when (e is ICSharpCode.SharpZipLib.SharpZipBaseException or InvalidDataException
                                      || (e is EndOfStreamException && !path.EndsWith(".txt", StringComparison.OrdinalIgnoreCase)))
        {
            throw new ModelFormatException(path, $"not a valid compressed file ({e.Message})");
        }
    }

    /// <summary>
    /// llama.cpp's HellaSwag text format (what <c>llama-perplexity --hellaswag</c> reads; plain or .bz2): 6 lines per
    /// task, the context <c>activity_label: ctx</c> already preprocessed, the gold index 0–3, then the 4 endings (also
    /// preprocessed). The requests are lm-eval's: context as is, continuations " " + ending. It differs from lm-eval's
    /// jsonl reading only in the second half of the context, which this format does not capitalise.
    /// </summary>
    static List<McItem> HellaSwagText(string path)
    {
        const int Endings = 4, LinesPerTask = 2 + Endings;
        var items = new List<McItem>();
        var block = new List<string>(LinesPerTask);
        int lineNo = 0, first = 0;
        foreach (string raw in ReadLines(path))
        {
            lineNo++;
            string line = raw.TrimEnd('\r');
            if (block.Count == 0)
            {
                if (line.Length == 0) continue;   // blank lines between tasks (or at the end) are tolerated
                first = lineNo;
            }
            block.Add(line);
            if (block.Count < LinesPerTask) continue;
            string context = block[0];
            if (!int.TryParse(block[1].Trim(), System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out int gold)
                || gold >= Endings)
                throw new ModelFormatException(path, $"line {first + 1}: gold label \"{block[1]}\" is not an index in [0, {Endings}) " +
                    $"(llama.cpp's HellaSwag text format: a context line, the gold index, then {Endings} endings per task)");
            if (context.Length == 0) throw new ModelFormatException(path, $"line {first}: empty context");
            items.Add(new McItem(first, block.Skip(2).Select(e => Choice(context, e)).ToArray(), gold));
            block.Clear();
        }
        if (block.Count > 0)
            throw new ModelFormatException(path, $"ends inside the task that starts on line {first}: {block.Count} of its {LinesPerTask} lines " +
                "(llama.cpp's HellaSwag text format has 6 lines per task)");
        return items;
    }

    // ---- WinoGrande: {sentence, option1, option2, answer "1"/"2"}; partial scoring ----

    static McItem WinoGrande(JsonElement o, int line)
    {
        string sentence = Str(o, "sentence");
        int idx = sentence.IndexOf('_');
        if (idx < 0) throw new LineException("sentence has no blank \"_\"");
        // lm-eval: choices are the contexts sentence[:idx] + option; the target is sentence[idx+1:].strip(), scored
        // after the target delimiter " ". The continuation is the same for both options.
        string target = " " + PyText.Strip(sentence[(idx + 1)..]);
        var options = new[] { Str(o, "option1"), Str(o, "option2") };
        var a = Field(o, "answer");
        string answer = a.ValueKind == JsonValueKind.Number ? a.GetRawText() : Str(o, "answer");
        int gold = answer switch
        {
            "1" => 0,
            "2" => 1,
            "" => throw new LineException("answer is empty (the test split has no labels; use dev.jsonl)"),
            _ => throw new LineException($"answer \"{answer}\" out of range (expected \"1\" or \"2\")"),
        };
        return new McItem(line, options.Select(opt => new McChoice(sentence[..idx] + opt, target, target[1..])).ToArray(), gold);
    }

    // ---- BoolQ: {question, passage, answer: bool} (SuperGLUE's copy names it label) ----

    static McItem BoolQ(JsonElement o, int line)
    {
        string ctx = $"{Str(o, "passage")}\nQuestion: {Str(o, "question")}?\nAnswer:";
        var a = o.TryGetProperty("answer", out var ans) ? ans : o.TryGetProperty("label", out var lab) ? lab
            : throw new LineException("missing field \"answer\"");
        int gold = a.ValueKind switch
        {
            JsonValueKind.True => 1,
            JsonValueKind.False => 0,
            JsonValueKind.Number when a.TryGetInt32(out int i) && i is 0 or 1 => i,
            _ => throw new LineException($"answer must be true/false, got {a.GetRawText()}"),
        };
        return new McItem(line, [Choice(ctx, "no"), Choice(ctx, "yes")], gold);
    }
}
