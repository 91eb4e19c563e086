using System.Reflection;
using System.Runtime.ExceptionServices;
using BenchmarkDotNet.Attributes;
using BenchmarkDotNet.Running;
using BenchmarkDotNet.Validators;
using TinyProto.Async.Benchmarks;

namespace TinyProto.Async.Tests;

/// <summary>
/// Runs every [Benchmark] method of the benchmarks project once, in this process, for every [Params] value,
/// with its [GlobalSetup]/[IterationSetup]/[IterationCleanup]/[GlobalCleanup], so benchmark code cannot rot.
/// Discovery is by reflection: a new benchmark is covered without touching this file. The workload is
/// shrunk through <see cref="SmokeScale"/>; no numbers are measured here.
/// </summary>
public sealed class BenchmarkSmokeTests : TestBase
{
    private static readonly Assembly s_benchmarks = typeof(SmokeScale).Assembly;

    public BenchmarkSmokeTests()
        : base(TimeSpan.FromSeconds(20))
    {
        SmokeScale.Enabled = true;
    }

    public static TheoryData<string, string> BenchmarkMethods()
    {
        var data = new TheoryData<string, string>();
        foreach (MethodInfo method in FindBenchmarkClasses().SelectMany(FindBenchmarkMethods))
        {
            data.Add(method.DeclaringType!.FullName!, method.Name);
        }

        return data;
    }

    [Fact]
    public void Discovery_BenchmarksAssembly_FindsBenchmarkMethods()
    {
        Type[] classes = FindBenchmarkClasses().ToArray();
        Assert.NotEmpty(classes);
        Assert.All(classes, type => Assert.NotEmpty(FindBenchmarkMethods(type)));
    }

    [Fact]
    public void Discovery_EveryBenchmarkClass_HasMemoryAndThreadingDiagnosers()
    {
        Assert.All(FindBenchmarkClasses(), type =>
        {
            Assert.True(type.IsDefined(typeof(MemoryDiagnoserAttribute)), $"{type.Name} lacks [MemoryDiagnoser]");
            Assert.True(type.IsDefined(typeof(ThreadingDiagnoserAttribute)), $"{type.Name} lacks [ThreadingDiagnoser]");
        });
    }

    [Fact]
    public void Validate_EveryBenchmarkClass_PassesBenchmarkDotNetValidators()
    {
        // The in-process run below bypasses what BenchmarkDotNet checks before a real run (a sealed class, a bad
        // [Params] type, two baselines), so its own validators run here; none of them executes benchmark code.
        foreach (Type type in FindBenchmarkClasses())
        {
            BenchmarkRunInfo info = BenchmarkConverter.TypeToBenchmarks(type);
            var parameters = new ValidationParameters(info.BenchmarksCases, info.Config);
            string[] errors = info.Config.GetValidators()
                .SelectMany(validator => validator.Validate(parameters))
                .Where(error => error.IsCritical)
                .Select(error => error.Message)
                .ToArray();
            Assert.True(errors.Length == 0, $"{type.Name}: {string.Join(Environment.NewLine, errors)}");
        }
    }

    [Theory]
    [MemberData(nameof(BenchmarkMethods))]
    public async Task Benchmark_RunOnceForEveryParamsValue_CompletesWithoutThrowing(string typeName, string methodName)
    {
        Type type = s_benchmarks.GetType(typeName, throwOnError: true)!;
        MethodInfo benchmark = type.GetMethod(methodName, BindingFlags.Public | BindingFlags.Instance)!;
        RejectUnsupportedAttributes(type, benchmark);

        List<IReadOnlyList<(MemberInfo Member, object? Value)>> combinations = ParamsCombinations(type);
        Assert.NotEmpty(combinations);
        foreach (IReadOnlyList<(MemberInfo Member, object? Value)> combination in combinations)
        {
            string label = $"{type.Name}.{methodName}({string.Join(", ", combination.Select(p => $"{p.Member.Name}={p.Value}"))})";
            object instance = Activator.CreateInstance(type)!;
            foreach ((MemberInfo member, object? value) in combination)
            {
                SetValue(instance, member, value);
            }

            await RunAsync(instance, Hooks<GlobalSetupAttribute>(type, methodName), label);
            Exception? failure = null;
            try
            {
                await RunAsync(instance, Hooks<IterationSetupAttribute>(type, methodName), label);
                await RunAsync(instance, [benchmark], label);
                await RunAsync(instance, Hooks<IterationCleanupAttribute>(type, methodName), label);
            }
            catch (Exception ex)
            {
                failure = ex;
            }

            try
            {
                await RunAsync(instance, Hooks<GlobalCleanupAttribute>(type, methodName), label);
            }
            catch (Exception) when (failure is not null)
            {
                // The benchmark's own failure is the one worth reporting; a cleanup after it may well fail too.
            }

            if (failure is not null)
            {
                ExceptionDispatchInfo.Throw(failure);
            }
        }
    }

    private static IEnumerable<Type> FindBenchmarkClasses() =>
        s_benchmarks.GetTypes().Where(type => type is { IsClass: true, IsAbstract: false } && FindBenchmarkMethods(type).Any());

    private static IEnumerable<MethodInfo> FindBenchmarkMethods(Type type) =>
        type.GetMethods(BindingFlags.Public | BindingFlags.Instance | BindingFlags.Static).Where(method => method.IsDefined(typeof(BenchmarkAttribute)));

    /// <summary>Fails on what this runner cannot reproduce, rather than silently running a benchmark differently.</summary>
    private static void RejectUnsupportedAttributes(Type type, MethodInfo benchmark)
    {
        Type[] unsupported = [typeof(ParamsSourceAttribute), typeof(ArgumentsAttribute), typeof(ArgumentsSourceAttribute)];
        IEnumerable<MemberInfo> members = type.GetMembers(BindingFlags.Public | BindingFlags.NonPublic | BindingFlags.Instance | BindingFlags.Static).Append(benchmark);
        foreach (MemberInfo member in members)
        {
            foreach (Type attribute in unsupported.Where(a => member.IsDefined(a)))
            {
                Assert.Fail($"{type.Name}.{member.Name} uses [{attribute.Name}], which BenchmarkSmokeTests does not support yet: extend it.");
            }
        }

        Assert.Empty(benchmark.GetParameters());
    }

    /// <summary>Every combination of [Params] / [ParamsAllValues] values, as BenchmarkDotNet would run them.</summary>
    private static List<IReadOnlyList<(MemberInfo Member, object? Value)>> ParamsCombinations(Type type)
    {
        var combinations = new List<IReadOnlyList<(MemberInfo Member, object? Value)>> { Array.Empty<(MemberInfo, object?)>() };
        foreach (MemberInfo member in type.GetMembers(BindingFlags.Public | BindingFlags.Instance | BindingFlags.Static))
        {
            object?[]? values = member.GetCustomAttribute<ParamsAttribute>()?.Values;
            if (values is null && member.IsDefined(typeof(ParamsAllValuesAttribute)))
            {
                Type memberType = member is PropertyInfo property ? property.PropertyType : ((FieldInfo)member).FieldType;
                values = memberType == typeof(bool) ? [false, true] : Enum.GetValues(memberType).Cast<object?>().ToArray();
            }

            if (values is null)
            {
                continue;
            }

            Assert.NotEmpty(values);
            combinations = combinations
                .SelectMany(combination => values.Select(value => (IReadOnlyList<(MemberInfo, object?)>)[.. combination, (member, value)]))
                .ToList();
        }

        return combinations;
    }

    private static void SetValue(object instance, MemberInfo member, object? value)
    {
        if (member is PropertyInfo property)
        {
            property.SetValue(instance, value);
        }
        else
        {
            ((FieldInfo)member).SetValue(instance, value);
        }
    }

    /// <summary>The hooks of kind <typeparamref name="T"/> that apply to <paramref name="benchmark"/>: untargeted ones and those targeting it.</summary>
    private static IEnumerable<MethodInfo> Hooks<T>(Type type, string benchmark)
        where T : TargetedAttribute =>
        type.GetMethods(BindingFlags.Public | BindingFlags.Instance)
            .Where(method => method.GetCustomAttribute<T>() is { } hook && (hook.Targets is not { Length: > 0 } targets || targets.Contains(benchmark)));

    /// <summary>Invokes each method on the thread pool and awaits what it returns, bounded by the test's timeout.</summary>
    private async Task RunAsync(object instance, IEnumerable<MethodInfo> methods, string label)
    {
        foreach (MethodInfo method in methods)
        {
            Task run = Task.Run(() => AsTask(method.Invoke(instance, BindingFlags.DoNotWrapExceptions, binder: null, parameters: null, culture: null)));
            try
            {
                await Bounded(run);
            }
            catch (OperationCanceledException) when (TimeoutToken.IsCancellationRequested)
            {
                Assert.Fail($"{label}: {method.Name} did not finish before the smoke timeout.");
            }
        }
    }

    private static Task AsTask(object? result) => result switch
    {
        Task task => task,
        ValueTask valueTask => valueTask.AsTask(),
        not null when result.GetType() is { IsGenericType: true } type && type.GetGenericTypeDefinition() == typeof(ValueTask<>) =>
            (Task)type.GetMethod(nameof(ValueTask<int>.AsTask))!.Invoke(result, null)!,
        _ => Task.CompletedTask,
    };
}
