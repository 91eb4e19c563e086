using System.CommandLine;
using TinyProto.Async.Cli.Output;

namespace TinyProto.Async.Cli.Commands;

/// <summary><c>--text</c> (the default), <c>--hex</c> and <c>--json</c>, one of them at most, and <c>--limit</c>.</summary>
internal sealed class FormatOptions
{
    private readonly Option<bool> _text = new("--text") { Description = "Print messages as text (the default): UTF-8, other bytes as \\xNN" };
    private readonly Option<bool> _hex = new("--hex") { Description = "Print messages as hex dumps" };
    private readonly Option<bool> _json = new("--json") { Description = "Print one JSON object per line (whole payload in base64, and as text when it is UTF-8)" };
    private readonly Option<int> _limit = new("--limit")
    {
        Description = "Show at most this many bytes of each message as text or hex (JSON always has all of it)",
        DefaultValueFactory = _ => 1024,
        HelpName = "BYTES",
    };

    public FormatOptions()
    {
        _limit.Validators.Add(result =>
        {
            if (result.GetValueOrDefault<int>() < 0)
            {
                result.AddError("--limit must not be negative");
            }
        });
    }

    public void AddTo(Command command)
    {
        command.Options.Add(_text);
        command.Options.Add(_hex);
        command.Options.Add(_json);
        command.Options.Add(_limit);
    }

    public MessagePrinter CreatePrinter(ParseResult parse, TextWriter output)
    {
        bool text = parse.GetValue(_text);
        bool hex = parse.GetValue(_hex);
        bool json = parse.GetValue(_json);
        if ((text ? 1 : 0) + (hex ? 1 : 0) + (json ? 1 : 0) > 1)
        {
            throw new CommandLineException("--text, --hex and --json are each other's alternatives: give one of them");
        }

        return new MessagePrinter(output, json ? MessageFormat.Json : hex ? MessageFormat.Hex : MessageFormat.Text, parse.GetValue(_limit));
    }
}
