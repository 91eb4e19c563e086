using System.Buffers;
using TinyProto.Async.Protocol;

namespace TinyProto.Async.Tests.Protocol;

/// <summary>
/// PROTOCOL.md's compatible core and rules 1, 2 and 4 to 7, one behaviour per test, on <see cref="Conversation"/> alone:
/// no pipe, no socket, no task. (Rule 3, the sender's own size check, lives in the connection: a conversation never
/// sees a size it sends.)
/// </summary>
public sealed class ConversationTests
{
    private const long ProtocolMax = TinyProtoConnectionOptions.ProtocolMaxMessageSize;

    public static TheoryData<byte> RefusalStatuses
    {
        get
        {
            var data = new TheoryData<byte>();
            for (int b = 0xF1; b <= 0xFE; b++)
            {
                data.Add((byte)b);
            }

            return data;
        }
    }

    // Compatible core: one message.

    [Fact]
    public void SingleMessage_ClientSendsHello_WireMatchesCompatibleCore()
    {
        Conversation client = Client();
        Conversation server = Server();
        var toServer = new ArrayBufferWriter<byte>();
        var toClient = new ArrayBufferWriter<byte>();

        client.BeginOwnMessages(1);
        FrameCodec.WriteHeader(toServer, 5);
        var header = new ReadOnlySequence<byte>(toServer.WrittenMemory);
        Assert.Equal(BoundaryUnit.Header, FrameCodec.TryReadBoundary(ref header, out _, out uint size));
        Assert.Equal(HeaderOutcome.Answered, server.OnHeader(size));
        Assert.Equal(1, server.WriteAnswers(toClient));
        Assert.Equal(StatusOutcome.PayloadDue, client.OnStatus(toClient.WrittenSpan[0], default));
        toServer.Write("hello"u8);
        client.EndOwnExchange();
        server.OnPayload(5);
        server.CompleteMessage();

        Assert.Equal(Convert.FromHexString("0000000568656C6C6F"), toServer.WrittenSpan.ToArray());
        Assert.Equal([0xFF], toClient.WrittenSpan.ToArray());
        ExpectIdle(client);
        ExpectIdle(server);
    }

    // Rule 8: a stopping receiver declines new lock-step headers.

    [Fact]
    public void Stopping_AHeaderIsDeclinedWith0xFDAfterTheOKsOwed_AndTheNextUnitIsAtABoundary()
    {
        Conversation server = Server();
        var toClient = new ArrayBufferWriter<byte>();

        Assert.Equal(HeaderOutcome.Answered, server.OnHeader(3));
        server.OnPayload(3);
        server.CompleteMessage();
        Assert.Equal(HeaderOutcome.Declined, server.OnHeaderWhileStopping(7));

        Assert.Equal(IncomingPhase.Boundary, server.Phase);
        Assert.Equal(2, server.WriteAnswers(toClient));
        Assert.Equal([0xFF, 0xFD], toClient.WrittenSpan.ToArray());
        Assert.False(server.HasAnswersToWrite);
    }

    [Fact]
    public void Stopping_WhileOurOwnMessageAwaitsItsStatus_TheDeclineIsHeldUntilOurPayloadIsInTheOutput()
    {
        // The client answered our header at once and reads our payload next: a 0xFD before it would be read as payload.
        Conversation server = Server();
        var toClient = new ArrayBufferWriter<byte>();
        server.BeginOwnMessages(1);

        Assert.Equal(HeaderOutcome.Declined, server.OnHeaderWhileStopping(7));
        Assert.True(server.IsAnswerHeld);
        Assert.Equal(IncomingPhase.Boundary, server.Phase);
        Assert.Equal(0, server.WriteAnswers(toClient));

        Assert.Equal(StatusOutcome.PayloadDue, server.OnStatus(0xFF, default));
        Assert.False(server.MayWriteAnswers);
        server.EndOwnExchange(); // our payload is in the output

        Assert.Equal(1, server.WriteAnswers(toClient));
        Assert.Equal([0xFD], toClient.WrittenSpan.ToArray());
        Assert.False(server.IsAnswerHeld);
    }

    [Fact]
    public void Stopping_WhileOurOwnMessageAwaitsItsStatus_AndThePeerRefusesIt_TheHeldDeclineGoesOut()
    {
        Conversation server = Server();
        var toClient = new ArrayBufferWriter<byte>();
        server.BeginOwnMessages(1);
        Assert.Equal(HeaderOutcome.Declined, server.OnHeaderWhileStopping(7));

        Assert.Equal(StatusOutcome.Refused, server.OnStatus(0xFD, default));

        Assert.Equal(1, server.WriteAnswers(toClient));
        Assert.Equal([0xFD], toClient.WrittenSpan.ToArray());
    }

    [Fact]
    public void Stopping_ASecondHeaderWhileADeclineIsHeld_IsAViolation()
    {
        Conversation server = Server();
        server.BeginOwnMessages(1);
        Assert.Equal(HeaderOutcome.Declined, server.OnHeaderWhileStopping(7));

        Assert.Equal(HeaderOutcome.Violation, server.OnHeaderWhileStopping(8));
        Assert.Contains("before the first one was answered", server.Violation!.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Stopping_AClientWithItsOwnMessageInFlight_DeclinesAtOnce()
    {
        // Rule 5 lets only the server hold: a stopping client (closing) answers every header at once.
        Conversation client = Client();
        var toServer = new ArrayBufferWriter<byte>();
        client.BeginOwnMessages(1);

        Assert.Equal(HeaderOutcome.Declined, client.OnHeaderWhileStopping(7));

        Assert.Equal(1, client.WriteAnswers(toServer));
        Assert.Equal([0xFD], toServer.WrittenSpan.ToArray());
    }

    [Fact]
    public void SingleMessage_Empty_AnsweredAndCompletesWithoutPayload()
    {
        Conversation server = Server();

        Assert.Equal(HeaderOutcome.Answered, server.OnHeader(0));
        Assert.Equal(IncomingPhase.Payload, server.Phase);
        Assert.Equal(0, server.IncomingLength);
        Assert.Equal(0, server.IncomingRemaining);
        server.CompleteMessage();

        Assert.Equal(IncomingPhase.Boundary, server.Phase);
        Assert.Equal([0xFF], Written(server));
    }

    [Fact]
    public void OnPayload_InPieces_CountsDownThenCompleteMessageReturnsToBoundary()
    {
        Conversation client = Client();
        client.OnHeader(10);

        client.OnPayload(3);
        Assert.Equal(IncomingPhase.Payload, client.Phase);
        Assert.Equal(7, client.IncomingRemaining);
        client.OnPayload(7);
        Assert.Equal(0, client.IncomingRemaining);
        client.CompleteMessage();

        Assert.Equal(IncomingPhase.Boundary, client.Phase);
        Assert.Equal(10, client.IncomingLength);
    }

    [Fact]
    public void OnStatus_RefusalToOwnMessage_RefusedAndNoPayloadDue()
    {
        Conversation client = Client();
        client.BeginOwnMessages(1);

        Assert.Equal(StatusOutcome.Refused, client.OnStatus(0xFC, default));

        Assert.False(client.IsPayloadDue);
        ExpectIdle(client);
    }

    // Rules 1 and 2: the local limit and the refusal.

    [Fact]
    public void OnHeader_AtLimit_Answered()
    {
        Conversation server = Server(maxMessageSize: 10);

        Assert.Equal(HeaderOutcome.Answered, server.OnHeader(10));
        Assert.Null(server.Violation);
    }

    [Fact]
    public void OnHeader_AboveLimit_RefusedOwingOneTooLarge()
    {
        Conversation server = Server(maxMessageSize: 10);

        Assert.Equal(HeaderOutcome.Refused, server.OnHeader(11));

        Assert.Equal(IncomingPhase.Boundary, server.Phase);
        Assert.Equal(0, server.AnswersOwed);
        Assert.True(server.HasAnswersToWrite);
        Assert.Equal([0xFC], Written(server));
        Assert.False(server.HasAnswersToWrite);
    }

    [Fact]
    public void OnHeader_AboveLowerLimit_MessageTooLargeNamingSizeAndThisEndsLimit()
    {
        Conversation client = Client(maxMessageSize: 10);

        client.OnHeader(11);

        Assert.Equal(TinyProtoError.MessageTooLarge, client.Violation?.Error);
        Assert.Contains("11 bytes (0x0000000B)", client.Violation!.Message, StringComparison.Ordinal);
        Assert.Contains("this end's limit of 10 bytes", client.Violation.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void OnHeader_AboveProtocolMaximumLimit_MessageNamesProtocolMaximum()
    {
        Conversation server = Server(maxMessageSize: ProtocolMax);

        Assert.Equal(HeaderOutcome.Refused, server.OnHeader(0xF1000000));

        Assert.Equal(TinyProtoError.MessageTooLarge, server.Violation?.Error);
        Assert.Contains("0xF0FFFFFF", server.Violation!.Message, StringComparison.Ordinal);
        Assert.DoesNotContain("this end's limit", server.Violation.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void OnHeader_ZeroLimit_EmptyAnsweredOneByteRefused()
    {
        Conversation server = Server(maxMessageSize: 0);

        Assert.Equal(HeaderOutcome.Answered, server.OnHeader(0));
        server.CompleteMessage();
        Assert.Equal(HeaderOutcome.Refused, server.OnHeader(1));
    }

    [Fact]
    public void WriteAnswers_RefusalAfterOksOwed_WritesOksThenOneRefusal()
    {
        Conversation client = Client(maxMessageSize: 10);
        ReceiveWhole(client, 1);
        ReceiveWhole(client, 2);

        Assert.Equal(HeaderOutcome.Refused, client.OnHeader(11));

        Assert.Equal([0xFF, 0xFF, 0xFC], Written(client));
    }

    [Fact]
    public void WriteAnswers_AfterRefusalWritten_NeverWritesAgain()
    {
        Conversation server = Server(maxMessageSize: 10);
        server.OnHeader(11);
        Assert.Equal([0xFC], Written(server));

        Assert.Equal(HeaderOutcome.Answered, server.OnHeader(1));
        server.OnPayload(1);
        server.CompleteMessage();
        Assert.Equal(HeaderOutcome.Refused, server.OnHeader(12));

        Assert.False(server.MayWriteAnswers);
        Assert.False(server.HasAnswersToWrite);
        Assert.Empty(Written(server));
    }

    // Rule 4: a status byte at a boundary.

    [Fact]
    public void OnStatus_NoneAwaiting_UnexpectedOwingTooLarge()
    {
        Conversation client = Client();

        Assert.Equal(StatusOutcome.Unexpected, client.OnStatus(0xFF, default));

        Assert.Equal(TinyProtoError.ProtocolViolation, client.Violation?.Error);
        Assert.Contains("0xFF (OK)", client.Violation!.Message, StringComparison.Ordinal);
        Assert.Equal([0xFC], Written(client));
    }

    [Fact]
    public void OnStatus_NoneAwaitingThreeBytesFollow_MessageTooLargeNamingSize()
    {
        // What a Python sender writes for a message of 0xF1000000 bytes: its header, whose first byte is in the status range.
        Conversation server = Server();
        var wire = new ReadOnlySequence<byte>([0xF1, 0x00, 0x00, 0x00]);
        Assert.Equal(BoundaryUnit.Status, FrameCodec.TryReadBoundary(ref wire, out byte first, out _));

        Assert.Equal(StatusOutcome.Unexpected, server.OnStatus(first, wire));

        Assert.Equal(TinyProtoError.MessageTooLarge, server.Violation?.Error);
        Assert.Contains("4043309056 bytes (0xF1000000)", server.Violation!.Message, StringComparison.Ordinal);
        Assert.Contains("0xF0FFFFFF", server.Violation.Message, StringComparison.Ordinal);
        Assert.Equal([0xFC], Written(server));
    }

    [Fact]
    public void OnStatus_NoneAwaitingTwoBytesFollow_ProtocolViolation()
    {
        Conversation server = Server();

        Assert.Equal(StatusOutcome.Unexpected, server.OnStatus(0xF1, new ReadOnlySequence<byte>([0x00, 0x00])));

        Assert.Equal(TinyProtoError.ProtocolViolation, server.Violation?.Error);
        Assert.Contains("0xF1", server.Violation!.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void OnStatus_AfterAllStatusesCame_Unexpected()
    {
        Conversation client = Client();
        client.BeginOwnMessages(1);
        client.OnStatus(0xFF, default);
        client.EndOwnExchange();

        Assert.Equal(StatusOutcome.Unexpected, client.OnStatus(0xFF, default));
        Assert.Equal(TinyProtoError.ProtocolViolation, client.Violation?.Error);
    }

    // Rule 5: lock-step.

    [Fact]
    public void OnHeader_ClientIdle_AnsweredAtOnce()
    {
        Conversation client = Client();

        Assert.Equal(HeaderOutcome.Answered, client.OnHeader(5));

        Assert.Equal(IncomingPhase.Payload, client.Phase);
        Assert.Equal(5, client.IncomingLength);
        Assert.Equal(5, client.IncomingRemaining);
        Assert.Equal(1, client.AnswersOwed);
        Assert.Equal([0xFF], Written(client));
    }

    [Fact]
    public void OnHeader_ServerIdle_AnsweredAtOnce()
    {
        Conversation server = Server();

        Assert.Equal(HeaderOutcome.Answered, server.OnHeader(5));

        Assert.Equal(IncomingPhase.Payload, server.Phase);
        Assert.False(server.IsAnswerHeld);
        Assert.Equal([0xFF], Written(server));
    }

    [Fact]
    public void OnHeader_ClientAwaitingStatus_AnsweredAtOnce()
    {
        Conversation client = Client();
        client.BeginOwnMessages(1);

        Assert.Equal(HeaderOutcome.Answered, client.OnHeader(5));

        Assert.False(client.IsAnswerHeld);
        Assert.Equal(IncomingPhase.Payload, client.Phase);
        Assert.Equal([0xFF], Written(client));
    }

    [Fact]
    public void OnHeader_ServerAwaitingStatus_HeldAndPhaseHeldBoundary()
    {
        Conversation server = Server();
        server.BeginOwnMessages(1);

        Assert.Equal(HeaderOutcome.Held, server.OnHeader(5));

        Assert.True(server.IsAnswerHeld);
        Assert.Equal(IncomingPhase.HeldBoundary, server.Phase);
        Assert.Equal(5, server.IncomingLength);
        Assert.Equal(0, server.AnswersOwed);
        Assert.False(server.HasAnswersToWrite);
        Assert.Empty(Written(server));
    }

    [Fact]
    public void OnStatus_OkWhileHoldingAnswer_PayloadDueThenHeldPayloadNext()
    {
        Conversation server = Server();
        server.BeginOwnMessages(1);
        server.OnHeader(5);

        Assert.Equal(StatusOutcome.PayloadDue, server.OnStatus(0xFF, default));

        Assert.Equal(IncomingPhase.Payload, server.Phase);
        Assert.True(server.IsAnswerHeld);
        Assert.False(server.MayWriteAnswers);
        Assert.Empty(Written(server));
    }

    [Fact]
    public void EndOwnExchange_WhileHoldingAnswer_HeldOkWrittenRightBehindPayload()
    {
        Conversation server = Server();
        var output = new ArrayBufferWriter<byte>();
        server.BeginOwnMessages(1);
        FrameCodec.WriteHeader(output, 2);
        server.OnHeader(5);
        server.OnStatus(0xFF, default);
        Assert.Equal(0, server.WriteAnswers(output));

        output.Write<byte>([0xAA, 0xBB]);
        server.EndOwnExchange();

        Assert.False(server.IsAnswerHeld);
        Assert.Equal(1, server.AnswersOwed);
        Assert.Equal(1, server.WriteAnswers(output));
        Assert.Equal([0x00, 0x00, 0x00, 0x02, 0xAA, 0xBB, 0xFF], output.WrittenSpan.ToArray());
        Assert.Equal(0, server.AnswersOwed);
    }

    [Fact]
    public void OnHeader_ServerPayloadDue_HeldWithPayloadNext()
    {
        // Our status came but the payload is not in the output yet: the answer waits for it, and the next bytes are
        // already the held header's payload (the peer sends it once we answer).
        Conversation server = Server();
        server.BeginOwnMessages(1);
        server.OnStatus(0xFF, default);

        Assert.Equal(HeaderOutcome.Held, server.OnHeader(5));

        Assert.Equal(IncomingPhase.Payload, server.Phase);
        Assert.Empty(Written(server));
        server.EndOwnExchange();
        Assert.Equal([0xFF], Written(server));
    }

    [Fact]
    public void OnHeader_ServerHoldingEmptyMessage_CompletesAtOnceAfterStatusAnswerStillHeld()
    {
        Conversation server = Server();
        server.BeginOwnMessages(1);
        server.OnHeader(0);
        server.OnStatus(0xFF, default);

        server.CompleteMessage();

        Assert.Equal(IncomingPhase.Boundary, server.Phase);
        Assert.True(server.IsAnswerHeld);
        server.EndOwnExchange();
        Assert.Equal([0xFF], Written(server));
    }

    [Fact]
    public void OnHeader_SecondWhileHeldBoundary_ProtocolViolation()
    {
        Conversation server = Server();
        server.BeginOwnMessages(1);
        server.OnHeader(5);

        Assert.Equal(HeaderOutcome.Violation, server.OnHeader(6));

        Assert.Equal(TinyProtoError.ProtocolViolation, server.Violation?.Error);
        Assert.Contains("6 bytes", server.Violation!.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void OnStatus_LockStepOk_PayloadDueAndNoAnswerUntilEndOwnExchange()
    {
        Conversation client = Client();
        ReceiveWhole(client, 3);
        client.BeginOwnMessages(1);

        Assert.Equal(StatusOutcome.PayloadDue, client.OnStatus(0xFF, default));

        Assert.True(client.IsPayloadDue);
        Assert.Equal(1, client.AnswersOwed);
        Assert.False(client.MayWriteAnswers);
        Assert.False(client.HasAnswersToWrite);
        Assert.Empty(Written(client));
        client.EndOwnExchange();
        Assert.False(client.IsPayloadDue);
        Assert.Equal([0xFF], Written(client));
    }

    [Fact]
    public void OnHeader_ClientPayloadDue_AnsweredButWrittenOnlyAfterPayload()
    {
        Conversation client = Client();
        client.BeginOwnMessages(1);
        client.OnStatus(0xFF, default);

        Assert.Equal(HeaderOutcome.Answered, client.OnHeader(5));

        Assert.Empty(Written(client));
        client.EndOwnExchange();
        Assert.Equal([0xFF], Written(client));
    }

    [Theory]
    [MemberData(nameof(RefusalStatuses))]
    public void OnStatus_LockStepRefusal_EndsExchange(byte status)
    {
        Conversation client = Client();
        client.BeginOwnMessages(1);

        Assert.Equal(StatusOutcome.Refused, client.OnStatus(status, default));

        Assert.False(client.IsPayloadDue);
        Assert.True(client.CanBeginOwnMessage);
        Assert.False(client.OwnMessageInFlight);
    }

    [Fact]
    public void OnStatus_RefusalWhileHoldingAnswer_ReleasesHeldAnswer()
    {
        Conversation server = Server();
        server.BeginOwnMessages(1);
        server.OnHeader(5);

        Assert.Equal(StatusOutcome.Refused, server.OnStatus(0xFC, default));

        Assert.False(server.IsAnswerHeld);
        Assert.Equal(IncomingPhase.Payload, server.Phase);
        Assert.True(server.CanBeginOwnMessage);
        Assert.Equal([0xFF], Written(server));
    }

    [Fact]
    public void CanBeginOwnMessage_LockStep_FalseFromBeginUntilEndOwnExchange()
    {
        Conversation client = Client();
        Assert.True(client.CanBeginOwnMessage);

        client.BeginOwnMessages(1);
        Assert.False(client.CanBeginOwnMessage);
        client.OnStatus(0xFF, default);
        Assert.False(client.CanBeginOwnMessage);
        client.EndOwnExchange();

        Assert.True(client.CanBeginOwnMessage);
    }

    [Fact]
    public void OwnMessageInFlight_LockStep_TrueFromBeginUntilPayloadInOutput()
    {
        Conversation server = Server();
        Assert.False(server.OwnMessageInFlight);

        server.BeginOwnMessages(1);
        Assert.True(server.OwnMessageInFlight);
        Assert.Equal(1, server.AwaitingStatuses);
        server.OnStatus(0xFF, default);
        Assert.True(server.OwnMessageInFlight);
        Assert.Equal(0, server.AwaitingStatuses);
        server.EndOwnExchange();

        Assert.False(server.OwnMessageInFlight);
    }

    [Fact]
    public void EndOwnExchange_NoExchange_ChangesNothing()
    {
        Conversation server = Server();
        ReceiveWhole(server, 1);
        string before = server.ToString();

        server.EndOwnExchange();

        Assert.Equal(before, server.ToString());
    }

    // Rule 6: pipelined.

    [Fact]
    public void OnHeader_PipelinedServerAwaitingStatuses_AnsweredAtOnce()
    {
        Conversation server = Server(pipelined: true);
        server.BeginOwnMessages(3);

        Assert.Equal(HeaderOutcome.Answered, server.OnHeader(5));

        Assert.False(server.IsAnswerHeld);
        Assert.Equal(IncomingPhase.Payload, server.Phase);
        Assert.Equal([0xFF], Written(server));
    }

    [Fact]
    public void OnHeader_PipelinedClientAwaitingStatuses_AnsweredAtOnce()
    {
        Conversation client = Client(pipelined: true);
        client.BeginOwnMessages(2);

        Assert.Equal(HeaderOutcome.Answered, client.OnHeader(5));
        Assert.Equal([0xFF], Written(client));
    }

    [Fact]
    public void OnStatus_PipelinedManyAwaiting_MatchedInOrder()
    {
        Conversation client = Client(pipelined: true);
        client.BeginOwnMessages(2);
        client.BeginOwnMessages(1);
        Assert.Equal(3, client.AwaitingStatuses);

        Assert.Equal(StatusOutcome.Accepted, client.OnStatus(0xFF, default));
        Assert.Equal(StatusOutcome.Refused, client.OnStatus(0xFC, default));
        Assert.Equal(StatusOutcome.Accepted, client.OnStatus(0xFF, default));

        Assert.Equal(0, client.AwaitingStatuses);
        Assert.False(client.OwnMessageInFlight);
        Assert.Equal(StatusOutcome.Unexpected, client.OnStatus(0xFF, default));
    }

    [Fact]
    public void OnStatus_PipelinedBetweenIncomingMessages_NeverPayloadDue()
    {
        Conversation server = Server(pipelined: true);
        server.BeginOwnMessages(2);
        ReceiveWhole(server, 4);

        Assert.Equal(StatusOutcome.Accepted, server.OnStatus(0xFF, default));
        ReceiveWhole(server, 0);
        Assert.Equal(StatusOutcome.Accepted, server.OnStatus(0xFF, default));

        Assert.False(server.IsPayloadDue);
        Assert.True(server.MayWriteAnswers);
        Assert.Equal([0xFF, 0xFF], Written(server));
    }

    [Fact]
    public void CanBeginOwnMessage_Pipelined_AlwaysTrue()
    {
        Conversation server = Server(pipelined: true);
        Assert.True(server.CanBeginOwnMessage);

        server.BeginOwnMessages(4);
        Assert.True(server.CanBeginOwnMessage);
        server.OnHeader(1);
        Assert.True(server.CanBeginOwnMessage);
        server.OnStatus(0xFC, default);

        Assert.True(server.CanBeginOwnMessage);
        Assert.True(server.OwnMessageInFlight);
        Assert.Equal(3, server.AwaitingStatuses);
    }

    // Rule 7: the end of input and a payload of ours cut short.

    [Fact]
    public void OnEndOfInput_AtBoundary_CleanEnd()
    {
        Conversation client = Client();
        ReceiveWhole(client, 2);

        Assert.Null(client.OnEndOfInput(0));
    }

    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    [InlineData(3)]
    public void OnEndOfInput_InsideHeader_ProtocolViolationNamingCount(long unparsed)
    {
        TinyProtoException? error = Server().OnEndOfInput(unparsed);

        Assert.Equal(TinyProtoError.ProtocolViolation, error?.Error);
        Assert.Contains($"after {unparsed} of 4 bytes", error!.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void OnEndOfInput_InsidePayload_ProtocolViolationNamingCounts()
    {
        Conversation server = Server();
        server.OnHeader(10);
        server.OnPayload(3);

        TinyProtoException? error = server.OnEndOfInput(0);

        Assert.Equal(TinyProtoError.ProtocolViolation, error?.Error);
        Assert.Contains("after 3 of 10 bytes", error!.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void OnEndOfInput_HeldBoundary_ProtocolViolationNamingSize()
    {
        Conversation server = Server();
        server.BeginOwnMessages(1);
        server.OnHeader(7);

        TinyProtoException? error = server.OnEndOfInput(0);

        Assert.Equal(TinyProtoError.ProtocolViolation, error?.Error);
        Assert.Contains("7-byte message", error!.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void OnEndOfInput_HeldHeaderAfterOurStatus_ProtocolViolationNamingCounts()
    {
        Conversation server = Server();
        server.BeginOwnMessages(1);
        server.OnHeader(7);
        server.OnStatus(0xFF, default);

        TinyProtoException? error = server.OnEndOfInput(0);

        Assert.Equal(TinyProtoError.ProtocolViolation, error?.Error);
        Assert.Contains("after 0 of 7 bytes", error!.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void CutShort_AnswersOwed_NeverWritesAnother()
    {
        Conversation client = Client(maxMessageSize: 10);
        ReceiveWhole(client, 1);
        client.BeginOwnMessages(1);
        client.OnStatus(0xFF, default);

        client.CutShort();
        client.EndOwnExchange();
        client.OnHeader(11);

        Assert.False(client.MayWriteAnswers);
        Assert.False(client.HasAnswersToWrite);
        Assert.Empty(Written(client));
    }

    // Clone, for the model check.

    [Fact]
    public void Clone_DrivenApart_OriginalUnchanged()
    {
        Conversation server = Server();
        server.BeginOwnMessages(1);
        server.OnHeader(5);
        string before = server.ToString();

        Conversation copy = server.Clone();
        copy.OnStatus(0xFF, default);
        copy.EndOwnExchange();
        Assert.Equal([0xFF], Written(copy));

        Assert.Equal(before, server.ToString());
        Assert.NotEqual(before, copy.ToString());
        Assert.True(server.IsAnswerHeld);
        Assert.Equal(IncomingPhase.HeldBoundary, server.Phase);
        Assert.Equal(1, server.AwaitingStatuses);
    }

    // The end of a connection.

    [Fact]
    public void AbandonAwaitedStatuses_LockStepServerHoldingAnAnswer_NothingInFlightAndTheHeldAnswerOwed()
    {
        Conversation server = Server();
        server.BeginOwnMessages(1);
        Assert.Equal(HeaderOutcome.Held, server.OnHeader(3));

        server.AbandonAwaitedStatuses();

        Assert.False(server.OwnMessageInFlight);
        Assert.Equal(0, server.AwaitingStatuses);
        Assert.True(server.CanBeginOwnMessage);
        Assert.False(server.IsAnswerHeld);
        Assert.Equal(new byte[] { 0xFF }, Written(server));
    }

    [Fact]
    public void AbandonAwaitedStatuses_PipelinedBatchAwaiting_NoneAwaitsAnyMore()
    {
        Conversation client = Client(pipelined: true);
        client.BeginOwnMessages(5);

        client.AbandonAwaitedStatuses();

        Assert.False(client.OwnMessageInFlight);
        Assert.Equal(StatusOutcome.Unexpected, client.OnStatus(0xFF, default));
    }

    private static Conversation Client(bool pipelined = false, long maxMessageSize = ProtocolMax) =>
        new(TinyProtoRole.Client, pipelined, maxMessageSize);

    private static Conversation Server(bool pipelined = false, long maxMessageSize = ProtocolMax) =>
        new(TinyProtoRole.Server, pipelined, maxMessageSize);

    private static byte[] Written(Conversation conversation)
    {
        var output = new ArrayBufferWriter<byte>();
        int count = conversation.WriteAnswers(output);
        Assert.Equal(count, output.WrittenCount);
        return output.WrittenSpan.ToArray();
    }

    /// <summary>Reads a whole incoming message whose header is answered at once; its OK stays owed.</summary>
    private static void ReceiveWhole(Conversation conversation, uint size)
    {
        Assert.Equal(HeaderOutcome.Answered, conversation.OnHeader(size));
        conversation.OnPayload(size);
        conversation.CompleteMessage();
    }

    private static void ExpectIdle(Conversation conversation)
    {
        Assert.Equal(IncomingPhase.Boundary, conversation.Phase);
        Assert.False(conversation.OwnMessageInFlight);
        Assert.True(conversation.CanBeginOwnMessage);
        Assert.False(conversation.HasAnswersToWrite);
        Assert.False(conversation.IsAnswerHeld);
        Assert.Null(conversation.Violation);
    }
}
