using TinyProto.Async.Protocol;

namespace TinyProto.Async.Tests.Protocol;

/// <summary>
/// The opening handshake (PROTOCOL.md "Opening handshake" and rule 6) as byte decisions: every one of the 256 opening
/// bytes in both roles and both settings, against a table written out here rather than taken from the code under test.
/// </summary>
public sealed class HandshakeTests
{
    public static TheoryData<byte, bool> EveryByteEitherSetting
    {
        get
        {
            var data = new TheoryData<byte, bool>();
            for (int b = 0x00; b <= 0xFF; b++)
            {
                data.Add((byte)b, true);
                data.Add((byte)b, false);
            }

            return data;
        }
    }

    [Fact]
    public void ClientOpening_PipeliningRequested_IsPipelineByte() => Assert.Equal(0xFB, Handshake.ClientOpening(requestPipelining: true));

    [Fact]
    public void ClientOpening_PipeliningNotRequested_IsOk() => Assert.Equal(0xFF, Handshake.ClientOpening(requestPipelining: false));

    [Fact]
    public void ConnectionLimitAnswer_IsFE() => Assert.Equal(0xFE, Handshake.ConnectionLimitAnswer);

    [Theory]
    [MemberData(nameof(EveryByteEitherSetting))]
    public void ServerReadsOpening_EveryByte_MatchesTable(byte opening, bool acceptPipelining)
    {
        HandshakeOutcome outcome = Handshake.ServerReadsOpening(opening, acceptPipelining);

        switch (opening)
        {
            case 0xFF:
                ExpectEstablished(outcome, pipelined: false, answer: 0xFF);
                break;
            case 0xFB:
                ExpectEstablished(outcome, pipelined: acceptPipelining, answer: acceptPipelining ? (byte)0xFB : (byte)0xFF);
                break;
            default:
                ExpectFailed(outcome, TinyProtoError.HandshakeFailed, Name(opening));
                break;
        }
    }

    [Theory]
    [MemberData(nameof(EveryByteEitherSetting))]
    public void ClientReadsAnswer_EveryByte_MatchesTable(byte answer, bool requestedPipelining)
    {
        HandshakeOutcome outcome = Handshake.ClientReadsAnswer(answer, requestedPipelining);

        switch (answer)
        {
            case 0xFF:
                ExpectEstablished(outcome, pipelined: false, answer: 0xFF);
                break;
            case 0xFB when requestedPipelining:
                ExpectEstablished(outcome, pipelined: true, answer: 0xFB);
                break;
            case 0xFE:
                ExpectFailed(outcome, TinyProtoError.ConnectionLimitReached, "0xFE");
                break;
            default:
                ExpectFailed(outcome, TinyProtoError.HandshakeFailed, Name(answer));
                break;
        }
    }

    /// <summary>Both settings on both sides: whatever the client asks and the server grants, the two agree on the mode.</summary>
    [Theory]
    [InlineData(false, false, false)]
    [InlineData(false, true, false)]
    [InlineData(true, false, false)]
    [InlineData(true, true, true)]
    public void ClientAndServer_EitherSetting_AgreeOnMode(bool requestPipelining, bool acceptPipelining, bool pipelined)
    {
        HandshakeOutcome server = Handshake.ServerReadsOpening(Handshake.ClientOpening(requestPipelining), acceptPipelining);
        HandshakeOutcome client = Handshake.ClientReadsAnswer(server.Answer, requestPipelining);

        ExpectEstablished(server, pipelined, pipelined ? (byte)0xFB : (byte)0xFF);
        ExpectEstablished(client, pipelined, pipelined ? (byte)0xFB : (byte)0xFF);
    }

    [Fact]
    public void ServerReadsOpening_PipelineWhenAccepted_AnswersPipelineAndPipelines() =>
        ExpectEstablished(Handshake.ServerReadsOpening(0xFB, acceptPipelining: true), pipelined: true, answer: 0xFB);

    [Fact]
    public void ServerReadsOpening_PipelineWhenNotAccepted_AnswersOkAndStaysLockStep() =>
        ExpectEstablished(Handshake.ServerReadsOpening(0xFB, acceptPipelining: false), pipelined: false, answer: 0xFF);

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public void ServerReadsOpening_ClassicOpening_AnswersOkLockStep(bool acceptPipelining) =>
        ExpectEstablished(Handshake.ServerReadsOpening(0xFF, acceptPipelining), pipelined: false, answer: 0xFF);

    [Fact]
    public void ServerReadsOpening_AsciiByte_FailsNamingIt() =>
        ExpectFailed(Handshake.ServerReadsOpening(0x41, acceptPipelining: true), TinyProtoError.HandshakeFailed, "0x41");

    [Fact]
    public void ServerReadsOpening_ConnectionLimitByte_FailsNamingIt() =>
        ExpectFailed(Handshake.ServerReadsOpening(0xFE, acceptPipelining: true), TinyProtoError.HandshakeFailed, "0xFE (connection limit)");

    [Fact]
    public void ClientReadsAnswer_PipelineNotRequested_Fails() =>
        ExpectFailed(Handshake.ClientReadsAnswer(0xFB, requestedPipelining: false), TinyProtoError.HandshakeFailed, "0xFB (pipeline)");

    [Fact]
    public void ClientReadsAnswer_PipelineRequested_EstablishesPipelined() =>
        ExpectEstablished(Handshake.ClientReadsAnswer(0xFB, requestedPipelining: true), pipelined: true, answer: 0xFB);

    [Fact]
    public void ClientReadsAnswer_OkWhenPipelineRequested_EstablishesLockStep() =>
        ExpectEstablished(Handshake.ClientReadsAnswer(0xFF, requestedPipelining: true), pipelined: false, answer: 0xFF);

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public void ClientReadsAnswer_ConnectionLimit_ConnectionLimitReached(bool requestedPipelining) =>
        ExpectFailed(Handshake.ClientReadsAnswer(0xFE, requestedPipelining), TinyProtoError.ConnectionLimitReached, "0xFE");

    [Fact]
    public void ClientReadsAnswer_AsciiByte_FailsNamingIt() =>
        ExpectFailed(Handshake.ClientReadsAnswer(0x41, requestedPipelining: false), TinyProtoError.HandshakeFailed, "0x41");

    [Fact]
    public void ClientReadsAnswer_GenericError_FailsNamingIt() =>
        ExpectFailed(Handshake.ClientReadsAnswer(0x00, requestedPipelining: false), TinyProtoError.HandshakeFailed, "0x00 (generic error)");

    [Fact]
    public void PeerClosed_Always_HandshakeFailed()
    {
        TinyProtoException error = Handshake.PeerClosed();

        Assert.Equal(TinyProtoError.HandshakeFailed, error.Error);
        Assert.Contains("closed", error.Message, StringComparison.Ordinal);
    }

    /// <summary>How an error message names a byte: the named ones with their name, every other one as bare hex.</summary>
    private static string Name(byte value) => value switch
    {
        0xFF => "0xFF (OK)",
        0xFE => "0xFE (connection limit)",
        0xFD => "0xFD (the receiver is stopping)",
        0xFC => "0xFC (too large)",
        0xFB => "0xFB (pipeline)",
        0x00 => "0x00 (generic error)",
        _ => $"0x{value:X2}",
    };

    private static void ExpectEstablished(HandshakeOutcome outcome, bool pipelined, byte answer)
    {
        Assert.True(outcome.IsEstablished, $"failed: {outcome.Error?.Message}");
        Assert.Null(outcome.Error);
        Assert.Equal(pipelined, outcome.IsPipelined);
        Assert.Equal(answer, outcome.Answer);
    }

    private static void ExpectFailed(HandshakeOutcome outcome, TinyProtoError error, string byteName)
    {
        Assert.False(outcome.IsEstablished);
        Assert.False(outcome.IsPipelined);
        Assert.NotNull(outcome.Error);
        Assert.Equal(error, outcome.Error.Error);
        Assert.Contains(byteName, outcome.Error.Message, StringComparison.Ordinal);
    }
}
