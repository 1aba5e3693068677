using Palu.Evaluation;
using Palu.IO;

namespace Palu.Tests.Evaluation;

/// <summary>Each task reader on hand-written lines in the published formats, and its errors on bad input.</summary>
public class TaskReaderTests
{
    static List<McItem> Read(string task, string file, params string[] lines)
    {
        using var tmp = TestPaths.Temp();
        string path = tmp.File(file);
        File.WriteAllLines(path, lines);
        return ZeroShotTask.Get(task).Load(path);
    }

    static string ReadError(string task, string file, params string[] lines)
    {
        var e = Assert.Throws<ModelFormatException>(() => Read(task, file, lines));
        Assert.EndsWith(file, e.FilePath);
        return e.Message;
    }

    static void AssertChoices(McItem item, string context, params string[] texts)
    {
        Assert.Equal(texts.Length, item.Choices.Length);
        for (int i = 0; i < texts.Length; i++)
        {
            Assert.Equal(context, item.Choices[i].Context);
            Assert.Equal(" " + texts[i], item.Choices[i].Continuation);
            Assert.Equal(texts[i], item.Choices[i].NormText);
        }
    }

    // ---- PIQA ----

    static (string Dir, TempDir Tmp) PiqaFiles(string[] jsonl, string[] labels)
    {
        var tmp = TestPaths.Temp();
        File.WriteAllLines(tmp.File("valid.jsonl"), jsonl);
        File.WriteAllLines(tmp.File("valid-labels.lst"), labels);
        return (tmp.Path, tmp);
    }

    static readonly string[] PiqaLines =
    [
        """{"goal": "How do I dry a wet phone?", "sol1": "Put it in rice.", "sol2": "Put it in water."}""",
        """{"goal": "dresser", "sol1": "replace drawer with bobby pin ", "sol2": "finish, woodgrain with  bobby pin "}""",
    ];

    [Fact]
    public void Piqa_reads_goal_solutions_and_sibling_labels()
    {
        var (dir, tmp) = PiqaFiles(PiqaLines, ["1", "0"]);
        using var _ = tmp;
        var items = ZeroShotTask.Piqa.Load(Path.Combine(dir, "valid.jsonl"));
        Assert.Equal(2, items.Count);
        AssertChoices(items[0], "Question: How do I dry a wet phone?\nAnswer:", "Put it in rice.", "Put it in water.");
        AssertChoices(items[1], "Question: dresser\nAnswer:", "replace drawer with bobby pin ", "finish, woodgrain with  bobby pin ");
        Assert.Equal([1, 0], items.Select(i => i.Gold));
        Assert.Equal([1, 2], items.Select(i => i.Line));
    }

    [Fact]
    public void Piqa_label_out_of_range_names_labels_file_and_line()
    {
        var (dir, tmp) = PiqaFiles(PiqaLines, ["0", "2"]);
        using var _ = tmp;
        var e = Assert.Throws<ModelFormatException>(() => ZeroShotTask.Piqa.Load(Path.Combine(dir, "valid.jsonl")));
        Assert.EndsWith("valid-labels.lst", e.FilePath);
        Assert.Contains("line 2: label \"2\" out of range", e.Message);
    }

    [Fact]
    public void Piqa_labels_count_mismatch_and_missing_labels_file_are_errors()
    {
        var (dir, tmp) = PiqaFiles(PiqaLines, ["0"]);
        using var _ = tmp;
        var e = Assert.Throws<ModelFormatException>(() => ZeroShotTask.Piqa.Load(Path.Combine(dir, "valid.jsonl")));
        Assert.Contains("has 1 labels but valid.jsonl has 2 items", e.Message);
        File.Delete(Path.Combine(dir, "valid-labels.lst"));
        e = Assert.Throws<ModelFormatException>(() => ZeroShotTask.Piqa.Load(Path.Combine(dir, "valid.jsonl")));
        Assert.Contains("needs its labels file valid-labels.lst", e.Message);
    }

    // ---- ARC ----

    [Fact]
    public void Arc_letter_and_number_labels()
    {
        var items = Read("arc-easy", "ARC-Easy-test.jsonl",
            """{"id":"a","question":"Which is a gas?","choices":{"text":["ice","steam","rock","wood","sand"],"label":["A","B","C","D","E"]},"answerKey":"B"}""",
            "",
            """{"id":"b","question":"2 + 2 =","choices":{"text":["3","4","5","6"],"label":["1","2","3","4"]},"answerKey":"4"}""");
        Assert.Equal(2, items.Count);
        AssertChoices(items[0], "Question: Which is a gas?\nAnswer:", "ice", "steam", "rock", "wood", "sand");
        AssertChoices(items[1], "Question: 2 + 2 =\nAnswer:", "3", "4", "5", "6");
        Assert.Equal([1, 3], items.Select(i => i.Gold));
        Assert.Equal([1, 3], items.Select(i => i.Line));   // the blank line is skipped, line numbers stay the file's
    }

    [Fact]
    public void Arc_bad_lines_name_the_line_and_problem()
    {
        const string ok = """{"question":"q","choices":{"text":["x","y"],"label":["A","B"]},"answerKey":"A"}""";
        Assert.Contains("line 2: answerKey \"C\" is not one of the choice labels [A, B]",
            ReadError("arc-challenge", "arc.jsonl", ok, """{"question":"q","choices":{"text":["x","y"],"label":["A","B"]},"answerKey":"C"}"""));
        Assert.Contains("line 1: choices has 3 texts but 2 labels",
            ReadError("arc-easy", "arc.jsonl", """{"question":"q","choices":{"text":["x","y","z"],"label":["A","B"]},"answerKey":"A"}"""));
        Assert.Contains("line 1: missing field \"answerKey\"",
            ReadError("arc-easy", "arc.jsonl", """{"question":"q","choices":{"text":["x","y"],"label":["A","B"]}}"""));
        Assert.Contains("line 3: not valid JSON", ReadError("arc-easy", "arc.jsonl", ok, ok, "{\"question\": "));
    }

    // ---- OpenBookQA ----

    [Fact]
    public void OpenBookQa_uses_the_stem_as_context()
    {
        var items = Read("openbookqa", "test.jsonl",
            """{"id": "7-980", "question": {"stem": "The sun is responsible for", "choices": [{"text": "puppies learning new tricks", "label": "A"}, {"text": "plants sprouting, blooming and wilting", "label": "B"}, {"text": "a cell phone", "label": "C"}, {"text": "snow", "label": "D"}]}, "answerKey": "B"}""");
        AssertChoices(items[0], "The sun is responsible for", "puppies learning new tricks", "plants sprouting, blooming and wilting", "a cell phone", "snow");
        Assert.Equal(1, items[0].Gold);
        Assert.Contains("line 1: answerKey \"E\"", ReadError("openbookqa", "test.jsonl",
            """{"question": {"stem": "s", "choices": [{"text": "a", "label": "A"}, {"text": "b", "label": "B"}]}, "answerKey": "E"}"""));
    }

    // ---- HellaSwag ----

    [Fact]
    public void HellaSwag_builds_lm_eval_query_and_cleans_endings()
    {
        // expected strings computed with lm-eval 0.4's hellaswag utils.py (Python)
        var items = Read("hellaswag", "hellaswag_val.jsonl",
            """{"ind": 4, "activity_label": "Home and Garden", "ctx_a": "[header] How to clean a grill [title] Heat the grill.", "ctx_b": "then SCRUB the GRATES", "ctx": "unused", "endings": ["with a wire brush [step] Rinse it.", "  and leave  it.", "x", "y"], "label": 0}""",
            """{"activity_label": "Removing ice from car", "ctx": "Then, the man writes over the snow covering the window of a car.", "endings": ["a", "b"], "label": "1"}""");
        Assert.Equal("Home and Garden: How to clean a grill. Heat the grill. Then scrub the grates", items[0].Choices[0].Context);
        Assert.Equal(" with a wire brush Rinse it.", items[0].Choices[0].Continuation);
        Assert.Equal("and leave it.", items[0].Choices[1].NormText);
        Assert.Equal(0, items[0].Gold);
        AssertChoices(items[1], "Removing ice from car: Then, the man writes over the snow covering the window of a car.", "a", "b");
        Assert.Equal(1, items[1].Gold);
    }

    [Fact]
    public void HellaSwag_preprocess_and_python_capitalize()
    {
        Assert.Equal("A. B", TaskReaders.HellaSwagPreprocess("  A [title] B "));
        Assert.Equal("keep this", TaskReaders.HellaSwagPreprocess("keep [substeps]this"));
        Assert.Equal("Hello world", PyText.Capitalize("hELLO WORLD"));
        Assert.Equal("", PyText.Capitalize(""));
        Assert.Equal("x", PyText.Strip("\x1c x \n"));   // Python whitespace includes U+001C–U+001F
    }

    [Fact]
    public void HellaSwag_label_out_of_range()
    {
        Assert.Contains("line 1: label 4 out of range [0, 4)", ReadError("hellaswag", "h.jsonl",
            """{"activity_label": "a", "ctx": "c", "endings": ["1", "2", "3", "4"], "label": 4}"""));
        Assert.Contains("line 1: field \"label\" must be an integer", ReadError("hellaswag", "h.jsonl",
            """{"activity_label": "a", "ctx": "c", "endings": ["1", "2"], "label": "x"}"""));
    }

    // ---- HellaSwag in llama.cpp's text format (plain or .bz2) ----

    static readonly string[] HellaSwagTextLines =
    [
        "Roof shingle removal: A man is sitting on a roof. he", "3",
        "is using wrap to wrap a pair of skis.", "is ripping level tiles off.", "is holding a rubik's cube.", "starts pulling up roofing on a roof.",
        "Clean and jerk: A lady walks to a barbell. She bends down and grabs the pole. the lady", "3",
        "swings and lands in her arms.", "pulls the barbell forward.", "pulls a rope attached to the barbell.", "stands and lifts the weight over her head.",
    ];

    [Fact]
    public void HellaSwag_text_format_six_lines_per_task()
    {
        var items = Read("hellaswag", "hellaswag_val_full.txt", HellaSwagTextLines);
        Assert.Equal(2, items.Count);
        AssertChoices(items[0], "Roof shingle removal: A man is sitting on a roof. he",
            "is using wrap to wrap a pair of skis.", "is ripping level tiles off.", "is holding a rubik's cube.", "starts pulling up roofing on a roof.");
        Assert.Equal([3, 3], items.Select(i => i.Gold));
        Assert.Equal([1, 7], items.Select(i => i.Line));
    }

    [Fact]
    public void HellaSwag_text_format_bz2_reads_like_the_plain_file()
    {
        using var tmp = TestPaths.Temp();
        string path = tmp.File("h.txt.bz2");
        using (var bz = new ICSharpCode.SharpZipLib.BZip2.BZip2OutputStream(File.Create(path)))
        using (var w = new StreamWriter(bz)) foreach (var l in HellaSwagTextLines) w.Write(l + "\n");
        var packed = ZeroShotTask.HellaSwag.Load(path);
        var plain = Read("hellaswag", "h.txt", HellaSwagTextLines);
        Assert.Equal(plain.Select(i => (i.Gold, i.Choices[2].Continuation)), packed.Select(i => (i.Gold, i.Choices[2].Continuation)));

        File.WriteAllBytes(tmp.File("bad.txt.bz2"), [1, 2, 3, 4, 5]);
        Assert.Contains("not a valid compressed file", Assert.Throws<ModelFormatException>(() => ZeroShotTask.HellaSwag.Load(tmp.File("bad.txt.bz2"))).Message);
    }

    [Fact]
    public void HellaSwag_text_format_errors_name_the_line()
    {
        Assert.Contains("line 2: gold label \"x\" is not an index in [0, 4)", ReadError("hellaswag", "h.txt", ["ctx", "x", "a", "b", "c", "d"]));
        Assert.Contains("line 8: gold label \"4\"", ReadError("hellaswag", "h.txt", [.. HellaSwagTextLines[..6], "ctx", "4", "a", "b", "c", "d"]));
        Assert.Contains("ends inside the task that starts on line 7: 3 of its 6 lines", ReadError("hellaswag", "h.txt", [.. HellaSwagTextLines[..6], "ctx", "1", "a"]));
    }

    [Fact]
    public void Shipped_hellaswag_file_is_the_full_validation_set()
    {
        string file = ZeroShotTask.HellaSwag.FindFile(TestPaths.Data(""))!;
        Assert.EndsWith("hellaswag_val_full.txt.bz2", file);
        var items = ZeroShotTask.HellaSwag.Load(file);
        Assert.Equal(10042, items.Count);
        Assert.All(items, i => Assert.Equal(4, i.Choices.Length));
        Assert.Equal("Roof shingle removal: A man is sitting on a roof. he", items[0].Choices[0].Context);
        Assert.Equal(60247, items[^1].Line);
        // the gold labels are spread over the four endings
        Assert.All(Enumerable.Range(0, 4), g => Assert.InRange(items.Count(i => i.Gold == g), 2300, 2800));
    }

    // ---- WinoGrande ----

    [Fact]
    public void WinoGrande_partial_scoring_contexts_and_shared_continuation()
    {
        var items = Read("winogrande", "dev.jsonl",
            """{"qID": "1", "sentence": "Sarah was a much better surgeon than Maria so _ always got the harder cases.", "option1": "Sarah", "option2": "Maria", "answer": "1"}""",
            """{"qID": "2", "sentence": "The trophy doesn't fit into the suitcase because the _ is too small.", "option1": "trophy", "option2": "suitcase", "answer": "2"}""");
        Assert.Equal("Sarah was a much better surgeon than Maria so Sarah", items[0].Choices[0].Context);
        Assert.Equal("Sarah was a much better surgeon than Maria so Maria", items[0].Choices[1].Context);
        Assert.All(items[0].Choices, c => Assert.Equal(" always got the harder cases.", c.Continuation));
        Assert.Equal(0, items[0].Gold);
        Assert.Equal("The trophy doesn't fit into the suitcase because the suitcase", items[1].Choices[1].Context);
        Assert.Equal(" is too small.", items[1].Choices[1].Continuation);
        Assert.Equal(1, items[1].Gold);
    }

    [Fact]
    public void WinoGrande_bad_answer_or_no_blank()
    {
        Assert.Contains("line 1: answer \"3\" out of range", ReadError("winogrande", "dev.jsonl",
            """{"sentence": "a _ b", "option1": "x", "option2": "y", "answer": "3"}"""));
        Assert.Contains("line 1: answer is empty (the test split has no labels", ReadError("winogrande", "dev.jsonl",
            """{"sentence": "a _ b", "option1": "x", "option2": "y", "answer": ""}"""));
        Assert.Contains("line 1: sentence has no blank", ReadError("winogrande", "dev.jsonl",
            """{"sentence": "a b", "option1": "x", "option2": "y", "answer": "1"}"""));
    }

    // ---- BoolQ ----

    [Fact]
    public void BoolQ_passage_question_and_no_yes()
    {
        var items = Read("boolq", "dev.jsonl",
            """{"question": "is the sky blue", "title": "Sky", "answer": true, "passage": "The sky is blue."}""",
            """{"question": "do fish fly", "passage": "Fish swim.", "idx": 3, "label": false}""");
        AssertChoices(items[0], "The sky is blue.\nQuestion: is the sky blue?\nAnswer:", "no", "yes");
        Assert.Equal([1, 0], items.Select(i => i.Gold));
        Assert.Contains("line 1: answer must be true/false, got \"yes\"", ReadError("boolq", "dev.jsonl",
            """{"question": "q", "passage": "p", "answer": "yes"}"""));
    }

    [Fact]
    public void Empty_or_missing_file_is_an_error()
    {
        Assert.Contains("no items", ReadError("boolq", "dev.jsonl", ""));
        Assert.Throws<ModelFormatException>(() => ZeroShotTask.BoolQ.Load("/nonexistent/dev.jsonl"));
    }

    static string Fixture(string name) => Path.Combine(TestPaths.RepoRoot, "tests", "Palu.Tests", "Evaluation", "Fixtures", name);

    [Fact]
    public void Fixture_files_of_the_tasks_without_shared_data_load()
    {
        var hs = ZeroShotTask.HellaSwag.Load(Fixture("hellaswag.jsonl"));
        Assert.Equal([2, 0, 1], hs.Select(i => i.Gold));
        Assert.Equal("Home and Garden: How to water a plant. Check the soil. If the top inch is dry,", hs[1].Choices[0].Context);
        Assert.Equal("cover  the leaves with glue.", hs[1].Choices[2].NormText);   // one pass of "  " → " ", as Python
        Assert.Equal([0, 1, 1, 0], ZeroShotTask.WinoGrande.Load(Fixture("winogrande-dev.jsonl")).Select(i => i.Gold));
        Assert.Equal([1, 0, 1], ZeroShotTask.BoolQ.Load(Fixture("boolq-dev.jsonl")).Select(i => i.Gold));
    }

    [Fact]
    public void Shared_task_files_load()
    {
        Assert.Equal(1838, ZeroShotTask.Piqa.Load(TestPaths.Data("tasks/piqa/valid.jsonl")).Count);
        var arc = ZeroShotTask.ArcChallenge.Load(TestPaths.Data("tasks/arc/ARC-Challenge-test.jsonl"));
        Assert.Equal(1172, arc.Count);
        Assert.Contains(arc, i => i.Choices.Length == 5);
        Assert.Equal(500, ZeroShotTask.OpenBookQa.Load(TestPaths.Data("tasks/openbookqa/test.jsonl")).Count);
    }
}
