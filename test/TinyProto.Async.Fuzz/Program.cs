// The AFL++ entry point (SharpFuzz): test/TinyProto.Async.Fuzz/fuzz.sh instruments TinyProto.Async.dll and runs this
// under afl-fuzz. TINYPROTO_FUZZ_TARGET picks the target: "connection" (a whole connection, ConnectionTarget; the
// default) or "codec" (the frame codec and the PROXY header reader, CodecTarget). With file or directory arguments it
// runs those inputs once each instead (to replay a finding): "dotnet TinyProto.Async.Fuzz.dll [codec] PATH...".
using SharpFuzz;
using TinyProto.Async.Fuzz;

string target = Environment.GetEnvironmentVariable("TINYPROTO_FUZZ_TARGET") ?? "connection";
if (args is ["codec" or "connection", ..])
{
    target = args[0];
    args = args[1..];
}

Action<byte[]> run = target switch
{
    "connection" => input => ConnectionTarget.Run(input),
    "codec" => input => CodecTarget.Run(input),
    _ => throw new ArgumentException($"TINYPROTO_FUZZ_TARGET is '{target}': expected 'connection' or 'codec'"),
};

if (args.Length > 0)
{
    foreach (string file in args.SelectMany(a => Directory.Exists(a) ? Directory.GetFiles(a) : [a]))
    {
        run(File.ReadAllBytes(file));
        Console.WriteLine($"ok: {file}");
    }

    return;
}

Fuzzer.OutOfProcess.Run(stream =>
{
    using var memory = new MemoryStream();
    stream.CopyTo(memory);
    run(memory.ToArray());
});
