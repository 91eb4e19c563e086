using System.CommandLine;
using System.CommandLine.Help;
using System.CommandLine.Invocation;

namespace TinyProto.Async.Cli;

/// <summary>
/// <c>--help</c> with an <c>Examples:</c> section after System.CommandLine's own help, for the root command and each
/// command that has examples (kept out of the descriptions, which the command list repeats).
/// </summary>
internal static class HelpExamples
{
    private static readonly Dictionary<Command, string> s_examples = [];

    /// <summary>Gives <paramref name="command"/> its examples, one per line; returns it.</summary>
    public static Command WithExamples(this Command command, string examples)
    {
        s_examples[command] = examples;
        return command;
    }

    /// <summary>Makes the root's <c>--help</c> (which every command inherits) print the examples.</summary>
    public static void Install(RootCommand root)
    {
        HelpOption help = root.Options.OfType<HelpOption>().Single();
        help.Action = new ExamplesAction((SynchronousCommandLineAction)help.Action!);
    }

    internal sealed class ExamplesAction(SynchronousCommandLineAction standard) : SynchronousCommandLineAction
    {
        public override int Invoke(ParseResult parseResult)
        {
            int result = standard.Invoke(parseResult);
            if (s_examples.TryGetValue(parseResult.CommandResult.Command, out string? examples))
            {
                Console.Out.WriteLine("Examples:");
                foreach (string line in examples.Split('\n'))
                {
                    Console.Out.WriteLine("  " + line.TrimEnd());
                }

                Console.Out.WriteLine();
            }

            return result;
        }
    }
}
