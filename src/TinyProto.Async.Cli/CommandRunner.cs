using System.CommandLine;
using System.Net.Sockets;

namespace TinyProto.Async.Cli;

/// <summary>
/// Runs a command's action the same way for every command: a bad argument prints <c>error: ...</c> and exits
/// <see cref="ExitCode.Usage"/>; Ctrl+C or SIGTERM exits <see cref="ExitCode.Interrupted"/>; any other error prints its
/// message on one line (the exception's chain, without a stack trace) and exits with the code that says what kind it was.
/// </summary>
internal static class CommandRunner
{
    public static void SetAction(Command command, Func<ParseResult, CancellationToken, Task<int>> action) =>
        command.SetAction((parse, cancellationToken) => RunAsync(parse, action, cancellationToken));

    /// <summary>Where to read about the command that was given: <c>See 'tinyproto send --help'.</c></summary>
    public static string SeeHelp(ParseResult parse) =>
        parse.CommandResult.Command is RootCommand ? "See 'tinyproto --help'." : $"See 'tinyproto {parse.CommandResult.Command.Name} --help'.";

    /// <summary>The exception's message and those of the exceptions inside it that add something, on one line.</summary>
    public static string Describe(Exception error)
    {
        var parts = new List<string>();
        for (Exception? e = error; e is not null; e = e.InnerException)
        {
            if (e is AggregateException { InnerExceptions.Count: 1 } || parts.Any(p => p.Contains(e.Message, StringComparison.Ordinal)))
            {
                continue;
            }

            parts.Add(e.Message);
        }

        return string.Join(": ", parts);
    }

    private static async Task<int> RunAsync(ParseResult parse, Func<ParseResult, CancellationToken, Task<int>> action, CancellationToken cancellationToken)
    {
        try
        {
            return await action(parse, cancellationToken);
        }
        catch (CommandLineException ex)
        {
            Console.Error.WriteLine($"error: {ex.Message}");
            Console.Error.WriteLine(SeeHelp(parse));
            return ExitCode.Usage;
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            Console.Error.WriteLine("interrupted");
            return ExitCode.Interrupted;
        }
        catch (Exception ex) when (ex is TinyProtoException or SocketException or IOException or TimeoutException
                                        or TransferRejectedException or UnauthorizedAccessException or System.Security.Authentication.AuthenticationException)
        {
            Console.Error.WriteLine($"error: {Describe(ex)}");
            return ExitCode.For(ex);
        }
    }
}
