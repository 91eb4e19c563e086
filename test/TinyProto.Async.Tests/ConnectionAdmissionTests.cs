using System.Net;

namespace TinyProto.Async.Tests;

/// <summary>The server's admission decisions alone, without sockets.</summary>
public sealed class ConnectionAdmissionTests
{
    private static readonly IPAddress A = IPAddress.Parse("10.0.0.1");
    private static readonly IPAddress B = IPAddress.Parse("10.0.0.2");

    [Fact]
    public void TryTakeSlot_LimitReached_FalseUntilASlotIsGivenBack()
    {
        var admission = new ConnectionAdmission { ConnectionLimit = 2 };
        ConnectionAdmission.Ticket[] tickets = [Admit(admission, A), Admit(admission, A), Admit(admission, A)];

        // Three in their handshake is fine: a place is taken only when the server answers.
        Assert.Equal(3, admission.Pending);
        Assert.True(tickets[0].TryTakeSlot());
        Assert.True(tickets[1].TryTakeSlot());
        Assert.False(tickets[2].TryTakeSlot());
        Assert.Equal(2, admission.Established);

        tickets[0].Dispose();
        Assert.True(tickets[2].TryTakeSlot());
        Assert.Equal(2, admission.Established);
    }

    [Fact]
    public void TryTakeSlot_CalledTwice_TakesOneSlot()
    {
        var admission = new ConnectionAdmission { ConnectionLimit = 1 };
        ConnectionAdmission.Ticket ticket = Admit(admission, A);
        Assert.True(ticket.TryTakeSlot());
        Assert.True(ticket.TryTakeSlot());
        Assert.Equal(1, admission.Established);
        ticket.Dispose();
        ticket.Dispose();
        Assert.Equal(0, admission.Established);
        Assert.Equal(0, admission.Pending);
    }

    [Fact]
    public void TryClaimAddress_AddressAtItsLimit_RefusedWhileOtherAddressesAreAdmitted()
    {
        var admission = new ConnectionAdmission { MaxPerAddress = 2 };
        ConnectionAdmission.Ticket first = Admit(admission, A);
        ConnectionAdmission.Ticket second = Admit(admission, A);
        first.EndHandshake();
        Assert.True(first.TryTakeSlot());

        // One established and one still in its handshake: both count.
        ConnectionAdmission.Ticket refused = admission.TryBeginPending()!;
        Assert.False(refused.TryClaimAddress(A));
        ConnectionAdmission.Ticket mapped = admission.TryBeginPending()!;
        Assert.False(mapped.TryClaimAddress(IPAddress.Parse("::ffff:10.0.0.1")));
        Admit(admission, B);

        // A refusal holds a pending place until it is done, and no place of its address.
        Assert.Equal(4, admission.Pending);
        refused.Dispose();
        mapped.Dispose();
        second.Dispose();
        Admit(admission, A);
    }

    [Fact]
    public void TryBeginPending_PendingLimitReached_NullUntilAHandshakeEnds()
    {
        var admission = new ConnectionAdmission { MaxPending = 2 };
        ConnectionAdmission.Ticket first = Admit(admission, A);
        Admit(admission, B);
        Assert.Null(admission.TryBeginPending());

        // An established connection is no longer pending.
        first.EndHandshake();
        Admit(admission, A);
        Assert.Equal(2, admission.Pending);
    }

    private static ConnectionAdmission.Ticket Admit(ConnectionAdmission admission, IPAddress address)
    {
        ConnectionAdmission.Ticket ticket = Assert.IsType<ConnectionAdmission.Ticket>(admission.TryBeginPending());
        Assert.True(ticket.TryClaimAddress(address));
        return ticket;
    }
}
