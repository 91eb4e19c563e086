// The AFL++ entry point (SharpFuzz): test/TinyProto.Async.Fuzz/fuzz.sh instruments TinyProto.Async.dll and runs this
// under afl-fuzz. With a file or directory argument it runs those inputs once each instead (to replay a crash).
using SharpFuzz;
using TinyProto.Async.Fuzz;

if (args.Length > 0)
{
    string[] files = Directory.Exists(args[0]) ? Directory.GetFiles(args[0]) : args;
    foreach (string file in files)
    {
        ConnectionTarget.Run(File.ReadAllBytes(file));
        Console.WriteLine($"ok: {file}");
    }

    return;
}

Fuzzer.OutOfProcess.Run(stream =>
{
    using var memory = new MemoryStream();
    stream.CopyTo(memory);
    ConnectionTarget.Run(memory.ToArray());
});
