using TinyProto.Async.Fuzz;

namespace TinyProto.Async.Tests.Fuzz;

/// <summary>
/// Every input of the fuzz corpora (test/TinyProto.Async.Fuzz/corpus/TARGET, minimised by afl-cmin from what AFL++
/// found with the instrumented library), replayed through its target in this process: a whole connection ends within
/// its bound and breaks no oracle (an exception type other than TinyProtoException, a message delivered that the input
/// did not send whole, one above the size limit); the codec and the PROXY header reader read the same however the
/// bytes are cut.
/// </summary>
public sealed class FuzzCorpusTests
{
    private static readonly string Corpus = Path.Combine(AppContext.BaseDirectory, "Fuzz", "corpus");

    [Fact]
    public async Task EveryConnectionCorpusInput_EndsWithinItsBound_AndBreaksNoOracle()
    {
        foreach (string input in Inputs("connection"))
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
    public void EveryCodecCorpusInput_ReadsTheSameHoweverItIsCut_AndBreaksNoOracle()
    {
        foreach (string input in Inputs("codec"))
        {
            try
            {
                CodecTarget.Run(File.ReadAllBytes(input));
            }
            catch (OracleException ex)
            {
                Assert.Fail($"{Path.GetFileName(input)}: {ex.Message}");
            }
        }
    }

    /// <summary>A corpus that went missing would make these pass having checked nothing.</summary>
    private static string[] Inputs(string target)
    {
        string[] inputs = Directory.GetFiles(Path.Combine(Corpus, target));
        Assert.True(inputs.Length >= 50, $"only {inputs.Length} corpus inputs in {Path.Combine(Corpus, target)}");
        return inputs;
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
