using TinyProto.Async.Fuzz;

namespace TinyProto.Async.Tests.Fuzz;

/// <summary>
/// Every input of the fuzz corpus (test/TinyProto.Async.Fuzz/corpus, minimised by afl-cmin from what AFL++ found with
/// the instrumented library), replayed through the fuzz target in this process: each ends within its bound, and none
/// breaks an oracle (an exception type other than TinyProtoException, a message delivered that the input did not send
/// whole, one above the size limit).
/// </summary>
public sealed class FuzzCorpusTests
{
    private static readonly string Corpus = Path.Combine(AppContext.BaseDirectory, "Fuzz", "corpus");

    [Fact]
    public async Task EveryCorpusInput_EndsWithinItsBound_AndBreaksNoOracle()
    {
        string[] inputs = Directory.GetFiles(Corpus);

        // A corpus that went missing would make this pass having checked nothing.
        Assert.True(inputs.Length >= 100, $"only {inputs.Length} corpus inputs in {Corpus}");
        foreach (string input in inputs)
        {
            try
            {
                await ConnectionTarget.RunAsync(await File.ReadAllBytesAsync(input));
            }
            catch (OracleException ex)
            {
                Assert.Fail($"{Path.GetFileName(input)}: {ex.Message}");
            }
        }
    }

    [Fact]
    public async Task TheOracles_CatchAMessageTheInputNeverSentWhole()
    {
        // A server fed a client's opening and a header for 5 bytes with only 3 of them: nothing may be delivered, and
        // nothing is. The target runs it cleanly; a hand-made bad delivery is what the check itself must refuse.
        byte[] cut = [0x01, 0x00, 0xFF, 0x00, 0x00, 0x00, 0x05, 0x61, 0x62, 0x63];
        await ConnectionTarget.RunAsync(cut);

        OracleException refused = Assert.Throws<OracleException>(() => ConnectionTarget.CheckDelivered([0x61, 0x62, 0x63], cut[2..]));
        Assert.Contains("never sent whole", refused.Message, StringComparison.Ordinal);
    }
}
