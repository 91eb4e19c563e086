namespace TinyProto.Async.Tests.Protocol;

/// <summary>
/// One unit on a symbolic channel of <see cref="ConversationModel"/>: a size header, a status byte or a whole payload,
/// each tagged with the id of its message (<c>c0</c>, <c>s1</c>: the client's first, the server's second).
/// </summary>
/// <param name="Kind"><c>H</c>, <c>S</c> or <c>P</c>.</param>
/// <param name="Id">The message the unit belongs to.</param>
/// <param name="Value">A header's size or a status's byte.</param>
internal readonly record struct ModelUnit(char Kind, string Id, uint Value)
{
    public bool IsHeader => Kind == 'H';

    public bool IsStatus => Kind == 'S';

    public bool IsPayload => Kind == 'P';

    public static ModelUnit Header(string id, uint size) => new('H', id, size);

    public static ModelUnit Status(string id, byte status) => new('S', id, status);

    public static ModelUnit Payload(string id) => new('P', id, 0);

    public override string ToString() => Kind switch
    {
        'H' => $"H({Id},{Value})",
        'S' => $"S({Id},{Value:X2})",
        _ => $"P({Id})",
    };
}
