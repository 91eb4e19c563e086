using Spectre.Console;

namespace TinyProto.Async.Cli.Output;

/// <summary>
/// What the output may do: live displays (progress bars, tables) only when standard output is a terminal, and colours only
/// then and when <c>NO_COLOR</c> is not set (https://no-color.org). Redirected output gets plain lines a script can read.
/// </summary>
internal sealed class Terminal
{
    private Terminal(bool interactive, bool color)
    {
        IsInteractive = interactive;
        UseColor = color;
        Console = AnsiConsole.Create(new AnsiConsoleSettings
        {
            Ansi = interactive ? AnsiSupport.Yes : AnsiSupport.No,
            ColorSystem = color ? ColorSystemSupport.Detect : ColorSystemSupport.NoColors,
            Interactive = interactive ? InteractionSupport.Yes : InteractionSupport.No,
            Out = new AnsiConsoleOutput(System.Console.Out),
        });
    }

    /// <summary>Standard output is a terminal that can redraw (not redirected, <c>TERM</c> not <c>dumb</c>).</summary>
    public bool IsInteractive { get; }

    public bool UseColor { get; }

    /// <summary>Spectre.Console's view of standard output, set up as above.</summary>
    public IAnsiConsole Console { get; }

    public static Terminal Detect()
    {
        bool interactive = !System.Console.IsOutputRedirected && Environment.GetEnvironmentVariable("TERM") is not "dumb";
        bool color = interactive && string.IsNullOrEmpty(Environment.GetEnvironmentVariable("NO_COLOR"));
        return new Terminal(interactive, color);
    }

    /// <summary><paramref name="text"/> in <paramref name="style"/> (Spectre markup, such as <c>green</c>) when colours are on, else as is; always escaped.</summary>
    public string Paint(string text, string style) => UseColor ? $"[{style}]{Markup.Escape(text)}[/]" : Markup.Escape(text);
}
