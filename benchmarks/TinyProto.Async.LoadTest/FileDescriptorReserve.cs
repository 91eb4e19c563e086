namespace TinyProto.Async.LoadTest;

/// <summary>
/// A few descriptors held back (open handles on /dev/null) and released when the open-file limit is hit. At the
/// limit the runtime cannot even load an assembly (System.Linq, the resources of an error message), so without a
/// reserve the report of the limit, and closing the connections, would crash the tool instead.
/// </summary>
internal sealed class FileDescriptorReserve : IDisposable
{
    private readonly List<FileStream> _handles = [];

    public FileDescriptorReserve(int count)
    {
        if (!OperatingSystem.IsLinux())
        {
            return;
        }

        for (int i = 0; i < count; i++)
        {
            _handles.Add(new FileStream("/dev/null", FileMode.Open, FileAccess.Read));
        }
    }

    public void Release()
    {
        lock (_handles)
        {
            foreach (FileStream handle in _handles)
            {
                handle.Dispose();
            }

            _handles.Clear();
        }
    }

    public void Dispose() => Release();
}
