using System.Diagnostics;
using System.Globalization;
using Spectre.Console;

namespace Palu.Cli;

/// <summary>
/// Progress of one long step: a fraction done and, optionally, what it is doing now (its stage). On a terminal it drives
/// a Spectre bar; otherwise it writes plain timestamped lines to stderr (no escape codes, one line per event).
/// </summary>
public abstract class ProgressStep : IProgress<double>
{
    public void Report(double fraction) => Report(fraction, null);

    /// <summary>Fraction done in [0, 1] and the current stage (null keeps the previous one).</summary>
    public abstract void Report(double fraction, string? stage);

    /// <summary>Called once when the step's work is over (successfully).</summary>
    internal abstract void Complete();
}

/// <summary>Runs work with progress steps: Spectre bars when stderr is a terminal, log lines otherwise.</summary>
public static class CliProgress
{
    /// <summary>Seconds between two log lines when the work advances by less than 10 % in between.</summary>
    public const double HeartbeatSeconds = 30;

    /// <summary>Seconds between two log lines at least, except at a change of stage (a short step logs only start and end).</summary>
    public const double MinSeconds = 1;

    /// <summary>Runs <paramref name="work"/> with one progress step labelled <paramref name="label"/>.</summary>
    public static T Run<T>(string label, Func<ProgressStep, T> work) => Steps(step => work(step(label)));

    /// <summary>Runs <paramref name="work"/> with a factory of progress steps, one per label.</summary>
    public static T Steps<T>(Func<Func<string, ProgressStep>, T> work)
    {
        var steps = new List<ProgressStep>();
        T result = default!;
        if (!Cli.Interactive)
        {
            result = work(label => Add(steps, new LogStep(label)));
            foreach (var s in steps) s.Complete();
            return result;
        }
        Cli.Err.Progress()
            .Columns(new TaskDescriptionColumn(), new ProgressBarColumn(), new PercentageColumn(), new ElapsedTimeColumn(),
                new RemainingTimeColumn(), new SpinnerColumn())
            .Start(ctx =>
            {
                result = work(label => Add(steps, new BarStep(ctx.AddTask(Markup.Escape(label), maxValue: 1.0), label)));
                foreach (var s in steps) s.Complete();
            });
        return result;
    }

    static ProgressStep Add(List<ProgressStep> steps, ProgressStep s)
    {
        // a new step means the previous ones are over
        foreach (var old in steps) old.Complete();
        steps.Add(s);
        return s;
    }

    sealed class BarStep(ProgressTask task, string label) : ProgressStep
    {
        string? _stage;
        bool _done;

        public override void Report(double fraction, string? stage)
        {
            if (stage is not null && stage != _stage)
            {
                _stage = stage;
                task.Description = Markup.Escape($"{label} ({stage})");
            }
            task.Value = Math.Clamp(fraction, 0, 1);
        }

        internal override void Complete()
        {
            if (_done) return;   // StopTask again would move the task's stop time
            _done = true;
            task.Description = Markup.Escape(label);
            task.Value = 1;
            task.StopTask();
        }
    }

    /// <summary>
    /// Lines "2025-06-01 12:00:03 label: 40 % (stage), 12 s elapsed, ~18 s left": at the start, at every 10 % crossed (at
    /// most one a second), at every change of stage, every <see cref="HeartbeatSeconds"/> otherwise, and "done in …" at the end.
    /// </summary>
    sealed class LogStep : ProgressStep
    {
        readonly string _label;
        readonly Stopwatch _sw = Stopwatch.StartNew();
        readonly Lock _lock = new();
        string? _stage;
        int _lastDecile = -1;
        double _lastLine = double.NegativeInfinity;
        bool _done;

        public LogStep(string label)
        {
            _label = label;
            Write($"{label}: started");
            _lastLine = 0;
        }

        public override void Report(double fraction, string? stage)
        {
            lock (_lock)
            {
                if (_done) return;
                fraction = Math.Clamp(double.IsNaN(fraction) ? 0 : fraction, 0, 1);
                double t = _sw.Elapsed.TotalSeconds;
                int decile = (int)(fraction * 10);
                bool newStage = stage is not null && stage != _stage;
                if (newStage) _stage = stage;
                if (fraction >= 1) { Finish(); return; }
                bool due = (decile > _lastDecile && t - _lastLine >= MinSeconds) || t - _lastLine >= HeartbeatSeconds;
                if (!newStage && !due) return;
                _lastDecile = Math.Max(_lastDecile, decile);
                _lastLine = t;
                string eta = fraction >= 0.05 && fraction < 1 ? $", ~{Duration(t * (1 - fraction) / fraction)} left" : "";
                Write($"{_label}: {(int)(fraction * 100),3} %{(_stage is null ? "" : $" ({_stage})")}, {Duration(t)} elapsed{eta}");
            }
        }

        internal override void Complete()
        {
            lock (_lock) Finish();
        }

        void Finish()
        {
            if (_done) return;
            _done = true;
            Write($"{_label}: done in {Duration(_sw.Elapsed.TotalSeconds)}");
        }
    }

    static void Write(string line) =>
        Console.Error.WriteLine(DateTime.Now.ToString("yyyy-MM-dd HH:mm:ss ", CultureInfo.InvariantCulture) + line);

    /// <summary>"0.4 s", "12 s", "3 min 05 s", "2 h 04 min".</summary>
    public static string Duration(double seconds) => seconds switch
    {
        < 10 => seconds.ToString("F1", CultureInfo.InvariantCulture) + " s",
        < 60 => $"{seconds:F0} s",
        < 3600 => $"{(int)(seconds / 60)} min {(int)(seconds % 60):D2} s",
        _ => $"{(int)(seconds / 3600)} h {(int)(seconds % 3600 / 60):D2} min",
    };
}
