using Palu.IO;

namespace Palu.Models;

/// <summary>
/// A factor tensor that does not fit its palu.json entry is a palu.json problem (edited ranks, a plan from another
/// checkpoint): the error names palu.json and the module, not config.json.
/// </summary>
public static class PlanErrors
{
    public static T Blame<T>(string planPath, string module, Func<T> load)
    {
        try { return load(); }
        catch (ModelFormatException e) when (e.FilePath != planPath)
        {
            throw InputError.File(planPath, $"module {module} does not match the checkpoint: {e.Message.Replace(" from config.json", "").Replace(" from palu.json", "")}",
                "restore the palu.json written with these factors (it was edited, or belongs to another checkpoint), or compress the model again", e);
        }
        catch (Exception e) when (e is ArgumentException or OverflowException)
        {
            throw InputError.File(planPath, $"module {module}: {e.Message}", "restore the palu.json written with these factors, or compress the model again", e);
        }
    }
}
