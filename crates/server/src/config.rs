//! Configuration: one declarative table of parameters drives `redis.conf` parsing, the
//! `--name value` command line, `CONFIG GET`, `CONFIG SET` and `CONFIG REWRITE`.
//!
//! Each row of [`PARAMS`] gives a parameter's name, an optional alias, its kind (which decides
//! how a value is parsed, validated and printed), its default as Redis writes it, and flags.
//! Values live in [`Config`] as parsed [`Val`]s, indexed by the [`P`] enum the `params!` macro
//! generates, so the server reads a setting with `config.int(P::Hz)` and no string lookup.
//! The table holds every parameter redis-server 7.2 has; the bounds, enum word orders and
//! error texts were checked against a real redis-server.

use std::fmt;
use std::path::{Path, PathBuf};

/// How a parameter's value is parsed and printed.
#[derive(Clone, Copy, Debug)]
pub enum Kind {
    /// `yes`/`no`.
    Bool,
    /// An integer within bounds, strict Redis integer syntax.
    Int {
        /// Smallest accepted value.
        min: i64,
        /// Largest accepted value.
        max: i64,
    },
    /// A byte count with optional unit (`1k`, `256mb`, `1gb`); printed as plain bytes.
    Memory {
        /// Smallest accepted value.
        min: i64,
        /// Largest accepted value.
        max: i64,
    },
    /// A byte count or a percentage of `maxmemory` (`10%`), kept as a negative number.
    MemoryPercent,
    /// An octal number (`unixsocketperm 700`).
    Octal {
        /// Largest accepted value.
        max: i64,
    },
    /// One of a fixed set of words, listed in the order Redis's error message lists them.
    Enum(&'static [&'static str]),
    /// Several words of a fixed set, each a bit (word `i` is bit `i - 1`; word 0 means none).
    Flags(&'static [&'static str]),
    /// Free text.
    Str,
    /// `save`: pairs of seconds and changes, or nothing.
    Save,
    /// `bind`: up to 16 addresses.
    Bind,
    /// `client-output-buffer-limit`: groups of class, hard limit, soft limit, soft seconds.
    OutputLimits,
    /// `notify-keyspace-events`: class letters.
    NotifyEvents,
    /// `oom-score-adj-values`: three integers in [-2000, 2000].
    OomValues,
    /// `latency-tracking-info-percentiles`: numbers in [0, 100].
    Percentiles,
    /// `dir`: changing it changes the working directory; reads give the absolute path.
    Dir,
    /// `replicaof`: `host port`, or nothing.
    HostPort,
}

/// Parameter flags.
pub mod pflags {
    /// Cannot be changed with CONFIG SET.
    pub const IMMUTABLE: u32 = 1;
    /// Value is hidden from logs (passwords).
    pub const SENSITIVE: u32 = 2;
    /// Accepted and stored, but Keel does not act on it yet (listed in COMPATIBILITY.md).
    pub const NOT_IN_EFFECT: u32 = 4;
    /// CONFIG SET refuses it unless `enable-protected-configs` allows it.
    pub const PROTECTED: u32 = 8;
    /// A debugging knob: only an exact name finds it, patterns skip it.
    pub const HIDDEN: u32 = 16;
}

/// One configuration parameter.
#[derive(Debug)]
pub struct Param {
    /// Canonical name.
    pub name: &'static str,
    /// Alias accepted everywhere the name is (`slaveof` for `replicaof`...).
    pub alias: Option<&'static str>,
    /// Value kind.
    pub kind: Kind,
    /// Default, in the form the config file takes.
    pub default: &'static str,
    /// Bits of [`pflags`].
    pub flags: u32,
}

impl Param {
    /// True if the parameter has flag bit `f`.
    pub fn has(&self, f: u32) -> bool {
        self.flags & f != 0
    }

    /// True for kinds whose config-file line takes any number of arguments.
    fn multi_arg(&self) -> bool {
        matches!(
            self.kind,
            Kind::Save
                | Kind::Bind
                | Kind::OutputLimits
                | Kind::OomValues
                | Kind::Percentiles
                | Kind::HostPort
                | Kind::Flags(_)
        )
    }
}

/// A parsed value.
#[derive(Clone, Debug, PartialEq)]
pub enum Val {
    /// `Kind::Bool`.
    Bool(bool),
    /// Integer kinds; bits for `Kind::Flags`.
    Int(i64),
    /// `Kind::Enum`: index into the word list.
    Enum(usize),
    /// Text kinds, and the special kinds in their normalised printed form.
    Str(String),
}

macro_rules! params {
    ($($id:ident => $name:literal $(| $alias:literal)?, $kind:expr, $default:literal, $flags:expr;)*) => {
        /// Index of each parameter in [`PARAMS`].
        #[derive(Clone, Copy, Debug, PartialEq, Eq)]
        #[repr(usize)]
        #[allow(missing_docs)]
        pub enum P { $($id),* }

        /// The parameter table.
        pub static PARAMS: &[Param] = &[
            $(Param { name: $name, alias: params!(@alias $($alias)?), kind: $kind, default: $default, flags: $flags }),*
        ];
    };
    (@alias $alias:literal) => { Some($alias) };
    (@alias) => { None };
}

use pflags::{HIDDEN, IMMUTABLE, NOT_IN_EFFECT, PROTECTED, SENSITIVE};

const LOGLEVELS: &[&str] = &["debug", "verbose", "notice", "warning", "nothing"];
const PROTECTED_ENUM: &[&str] = &["no", "yes", "local"];
const SUPERVISED: &[&str] = &["upstart", "systemd", "auto", "no"];
const SYSLOG_FACILITY: &[&str] =
    &["user", "local0", "local1", "local2", "local3", "local4", "local5", "local6", "local7"];
const SHUTDOWN_ON_SIGNAL: &[&str] = &["default", "save", "nosave", "now", "force"];
const ACL_PUBSUB_DEFAULT: &[&str] = &["allchannels", "resetchannels"];
const APPENDFSYNC: &[&str] = &["everysec", "always", "no"];
const CLUSTER_PREFERRED_ENDPOINT_TYPE: &[&str] = &["ip", "hostname", "unknown-endpoint"];
const MAXMEMORY_POLICY: &[&str] = &[
    "volatile-lru",
    "volatile-lfu",
    "volatile-random",
    "volatile-ttl",
    "allkeys-lru",
    "allkeys-lfu",
    "allkeys-random",
    "noeviction",
];
const OOM_SCORE_ADJ: &[&str] = &["no", "yes", "relative", "absolute"];
const PROPAGATION_ERROR_BEHAVIOR: &[&str] = &["ignore", "panic", "panic-on-replicas"];
const REPL_DISKLESS_LOAD: &[&str] = &["disabled", "on-empty-db", "swapdb"];
const SANITIZE_DUMP_PAYLOAD: &[&str] = &["no", "yes", "clients"];
const TLS_AUTH_CLIENTS: &[&str] = &["no", "yes", "optional"];
const I32: i64 = i32::MAX as i64;
const U32: i64 = u32::MAX as i64;
const I64: i64 = i64::MAX;
const MB: i64 = 1024 * 1024;

params! {
    AclPubsubDefault => "acl-pubsub-default", Kind::Enum(ACL_PUBSUB_DEFAULT), "resetchannels", 0;
    Aclfile => "aclfile", Kind::Str, "", IMMUTABLE;
    AcllogMaxLen => "acllog-max-len", Kind::Int { min: 0, max: I64 }, "128", 0;
    ActiveDefragCycleMax => "active-defrag-cycle-max", Kind::Int { min: 1, max: 99 }, "25", 0;
    ActiveDefragCycleMin => "active-defrag-cycle-min", Kind::Int { min: 1, max: 99 }, "1", 0;
    ActiveDefragIgnoreBytes => "active-defrag-ignore-bytes", Kind::Memory { min: 1, max: I64 }, "104857600", 0;
    ActiveDefragMaxScanFields => "active-defrag-max-scan-fields", Kind::Int { min: 1, max: I64 }, "1000", 0;
    ActiveDefragThresholdLower => "active-defrag-threshold-lower", Kind::Int { min: 0, max: 1000 }, "10", 0;
    ActiveDefragThresholdUpper => "active-defrag-threshold-upper", Kind::Int { min: 0, max: 1000 }, "100", 0;
    ActiveExpireEffort => "active-expire-effort", Kind::Int { min: 1, max: 10 }, "1", 0;
    Activedefrag => "activedefrag", Kind::Bool, "no", 0;
    Activerehashing => "activerehashing", Kind::Bool, "yes", 0;
    AlwaysShowLogo => "always-show-logo", Kind::Bool, "no", IMMUTABLE | NOT_IN_EFFECT;
    AofDisableAutoGc => "aof-disable-auto-gc", Kind::Bool, "no", NOT_IN_EFFECT;
    AofLoadTruncated => "aof-load-truncated", Kind::Bool, "yes", 0;
    AofRewriteIncrementalFsync => "aof-rewrite-incremental-fsync", Kind::Bool, "yes", NOT_IN_EFFECT;
    AofTimestampEnabled => "aof-timestamp-enabled", Kind::Bool, "no", NOT_IN_EFFECT;
    AofUseRdbPreamble => "aof-use-rdb-preamble", Kind::Bool, "yes", 0;
    AofRewriteCpulist => "aof_rewrite_cpulist", Kind::Str, "", IMMUTABLE | NOT_IN_EFFECT;
    Appenddirname => "appenddirname", Kind::Str, "appendonlydir", IMMUTABLE;
    Appendfilename => "appendfilename", Kind::Str, "appendonly.aof", IMMUTABLE;
    Appendfsync => "appendfsync", Kind::Enum(APPENDFSYNC), "everysec", 0;
    // Keel's one deliberate change of a Redis default: durable unless told otherwise.
    Appendonly => "appendonly", Kind::Bool, "yes", 0;
    AutoAofRewriteMinSize => "auto-aof-rewrite-min-size", Kind::Memory { min: 0, max: I64 }, "67108864", 0;
    AutoAofRewritePercentage => "auto-aof-rewrite-percentage", Kind::Int { min: 0, max: I32 }, "100", 0;
    BgsaveCpulist => "bgsave_cpulist", Kind::Str, "", IMMUTABLE | NOT_IN_EFFECT;
    Bind => "bind", Kind::Bind, "* -::*", 0;
    BindSourceAddr => "bind-source-addr", Kind::Str, "", NOT_IN_EFFECT;
    BioCpulist => "bio_cpulist", Kind::Str, "", IMMUTABLE | NOT_IN_EFFECT;
    BusyReplyThreshold => "busy-reply-threshold" | "lua-time-limit", Kind::Int { min: 0, max: I64 }, "5000", 0;
    ClientOutputBufferLimit => "client-output-buffer-limit", Kind::OutputLimits, "normal 0 0 0 slave 268435456 67108864 60 pubsub 33554432 8388608 60", 0;
    ClientQueryBufferLimit => "client-query-buffer-limit", Kind::Memory { min: MB, max: I64 }, "1073741824", 0;
    ClusterAllowPubsubshardWhenDown => "cluster-allow-pubsubshard-when-down", Kind::Bool, "yes", NOT_IN_EFFECT;
    ClusterAllowReadsWhenDown => "cluster-allow-reads-when-down", Kind::Bool, "no", NOT_IN_EFFECT;
    ClusterAllowReplicaMigration => "cluster-allow-replica-migration", Kind::Bool, "yes", NOT_IN_EFFECT;
    ClusterAnnounceBusPort => "cluster-announce-bus-port", Kind::Int { min: 0, max: 65535 }, "0", NOT_IN_EFFECT;
    ClusterAnnounceHostname => "cluster-announce-hostname", Kind::Str, "", NOT_IN_EFFECT;
    ClusterAnnounceHumanNodename => "cluster-announce-human-nodename", Kind::Str, "", NOT_IN_EFFECT;
    ClusterAnnounceIp => "cluster-announce-ip", Kind::Str, "", NOT_IN_EFFECT;
    ClusterAnnouncePort => "cluster-announce-port", Kind::Int { min: 0, max: 65535 }, "0", NOT_IN_EFFECT;
    ClusterAnnounceTlsPort => "cluster-announce-tls-port", Kind::Int { min: 0, max: 65535 }, "0", NOT_IN_EFFECT;
    ClusterConfigFile => "cluster-config-file", Kind::Str, "nodes.conf", IMMUTABLE | NOT_IN_EFFECT;
    ClusterEnabled => "cluster-enabled", Kind::Bool, "no", IMMUTABLE | NOT_IN_EFFECT;
    ClusterLinkSendbufLimit => "cluster-link-sendbuf-limit", Kind::Memory { min: 0, max: I64 }, "0", NOT_IN_EFFECT;
    ClusterMigrationBarrier => "cluster-migration-barrier", Kind::Int { min: 0, max: I32 }, "1", NOT_IN_EFFECT;
    ClusterNodeTimeout => "cluster-node-timeout", Kind::Int { min: 0, max: I64 }, "15000", NOT_IN_EFFECT;
    ClusterPort => "cluster-port", Kind::Int { min: 0, max: 65535 }, "0", IMMUTABLE | NOT_IN_EFFECT;
    ClusterPreferredEndpointType => "cluster-preferred-endpoint-type", Kind::Enum(CLUSTER_PREFERRED_ENDPOINT_TYPE), "ip", NOT_IN_EFFECT;
    ClusterReplicaNoFailover => "cluster-replica-no-failover" | "cluster-slave-no-failover", Kind::Bool, "no", NOT_IN_EFFECT;
    ClusterReplicaValidityFactor => "cluster-replica-validity-factor" | "cluster-slave-validity-factor", Kind::Int { min: 0, max: I32 }, "10", NOT_IN_EFFECT;
    ClusterRequireFullCoverage => "cluster-require-full-coverage", Kind::Bool, "yes", NOT_IN_EFFECT;
    CrashLogEnabled => "crash-log-enabled", Kind::Bool, "yes", NOT_IN_EFFECT;
    CrashMemcheckEnabled => "crash-memcheck-enabled", Kind::Bool, "yes", NOT_IN_EFFECT;
    Daemonize => "daemonize", Kind::Bool, "no", IMMUTABLE | NOT_IN_EFFECT;
    Databases => "databases", Kind::Int { min: 1, max: I32 }, "16", IMMUTABLE;
    Dbfilename => "dbfilename", Kind::Str, "dump.rdb", PROTECTED;
    Dir => "dir", Kind::Dir, "", PROTECTED;
    DisableThp => "disable-thp", Kind::Bool, "yes", IMMUTABLE | NOT_IN_EFFECT;
    DynamicHz => "dynamic-hz", Kind::Bool, "yes", NOT_IN_EFFECT;
    EnableDebugCommand => "enable-debug-command", Kind::Enum(PROTECTED_ENUM), "no", IMMUTABLE;
    EnableModuleCommand => "enable-module-command", Kind::Enum(PROTECTED_ENUM), "no", IMMUTABLE | NOT_IN_EFFECT;
    EnableProtectedConfigs => "enable-protected-configs", Kind::Enum(PROTECTED_ENUM), "no", IMMUTABLE;
    HashMaxListpackEntries => "hash-max-listpack-entries" | "hash-max-ziplist-entries", Kind::Int { min: 0, max: I64 }, "512", 0;
    HashMaxListpackValue => "hash-max-listpack-value" | "hash-max-ziplist-value", Kind::Memory { min: 0, max: I64 }, "64", 0;
    HllSparseMaxBytes => "hll-sparse-max-bytes", Kind::Memory { min: 0, max: I64 }, "3000", 0;
    Hz => "hz", Kind::Int { min: 0, max: I32 }, "10", 0;
    IgnoreWarnings => "ignore-warnings", Kind::Str, "", NOT_IN_EFFECT;
    IoThreads => "io-threads", Kind::Int { min: 1, max: 128 }, "1", IMMUTABLE | NOT_IN_EFFECT;
    IoThreadsDoReads => "io-threads-do-reads", Kind::Bool, "no", IMMUTABLE | NOT_IN_EFFECT;
    JemallocBgThread => "jemalloc-bg-thread", Kind::Bool, "yes", NOT_IN_EFFECT;
    KeyLoadDelay => "key-load-delay", Kind::Int { min: -I32 - 1, max: I32 }, "0", HIDDEN;
    LatencyMonitorThreshold => "latency-monitor-threshold", Kind::Int { min: 0, max: I64 }, "0", 0;
    LatencyTracking => "latency-tracking", Kind::Bool, "yes", 0;
    LatencyTrackingInfoPercentiles => "latency-tracking-info-percentiles", Kind::Percentiles, "50 99 99.9", 0;
    LazyfreeLazyEviction => "lazyfree-lazy-eviction", Kind::Bool, "no", NOT_IN_EFFECT;
    LazyfreeLazyExpire => "lazyfree-lazy-expire", Kind::Bool, "no", NOT_IN_EFFECT;
    LazyfreeLazyServerDel => "lazyfree-lazy-server-del", Kind::Bool, "no", NOT_IN_EFFECT;
    LazyfreeLazyUserDel => "lazyfree-lazy-user-del", Kind::Bool, "no", NOT_IN_EFFECT;
    LazyfreeLazyUserFlush => "lazyfree-lazy-user-flush", Kind::Bool, "no", NOT_IN_EFFECT;
    LfuDecayTime => "lfu-decay-time", Kind::Int { min: 0, max: I32 }, "1", 0;
    LfuLogFactor => "lfu-log-factor", Kind::Int { min: 0, max: I32 }, "10", 0;
    ListCompressDepth => "list-compress-depth", Kind::Int { min: 0, max: I32 }, "0", 0;
    ListMaxListpackSize => "list-max-listpack-size" | "list-max-ziplist-size", Kind::Int { min: -I32 - 1, max: I32 }, "-2", 0;
    LoadingProcessEventsIntervalBytes => "loading-process-events-interval-bytes", Kind::Int { min: 1024, max: I32 }, "2097152", HIDDEN;
    LocaleCollate => "locale-collate", Kind::Str, "", NOT_IN_EFFECT;
    Logfile => "logfile", Kind::Str, "", IMMUTABLE;
    Loglevel => "loglevel", Kind::Enum(LOGLEVELS), "notice", 0;
    Masterauth => "masterauth", Kind::Str, "", SENSITIVE | NOT_IN_EFFECT;
    Masteruser => "masteruser", Kind::Str, "", NOT_IN_EFFECT;
    Maxclients => "maxclients", Kind::Int { min: 1, max: U32 }, "10000", 0;
    Maxmemory => "maxmemory", Kind::Memory { min: 0, max: I64 }, "0", 0;
    MaxmemoryClients => "maxmemory-clients", Kind::MemoryPercent, "0", 0;
    MaxmemoryEvictionTenacity => "maxmemory-eviction-tenacity", Kind::Int { min: 0, max: 100 }, "10", 0;
    MaxmemoryPolicy => "maxmemory-policy", Kind::Enum(MAXMEMORY_POLICY), "noeviction", 0;
    MaxmemorySamples => "maxmemory-samples", Kind::Int { min: 1, max: I32 }, "5", 0;
    // Keel's own: the share of maxmemory (percent, 0 = off) past which a warning is logged.
    MaxmemoryWarningThreshold => "maxmemory-warning-threshold", Kind::Int { min: 0, max: 100 }, "80", 0;
    // Keel's own, for the built-in metrics (src/metrics/): the key prefix BullMQ queues are
    // discovered under, how many queues are exported, and the HTTP port (0 = off). Hidden,
    // so CONFIG GET patterns list exactly Redis's parameters.
    MetricsBullmqPrefix => "metrics-bullmq-prefix", Kind::Str, "bull", HIDDEN;
    MetricsMaxQueues => "metrics-max-queues", Kind::Int { min: 0, max: 10000 }, "100", HIDDEN;
    MetricsPort => "metrics-port", Kind::Int { min: 0, max: 65535 }, "0", HIDDEN | IMMUTABLE;
    MinReplicasMaxLag => "min-replicas-max-lag" | "min-slaves-max-lag", Kind::Int { min: 0, max: I32 }, "10", NOT_IN_EFFECT;
    MinReplicasToWrite => "min-replicas-to-write" | "min-slaves-to-write", Kind::Int { min: 0, max: I32 }, "0", NOT_IN_EFFECT;
    NoAppendfsyncOnRewrite => "no-appendfsync-on-rewrite", Kind::Bool, "no", NOT_IN_EFFECT;
    NotifyKeyspaceEvents => "notify-keyspace-events", Kind::NotifyEvents, "", 0;
    OomScoreAdj => "oom-score-adj", Kind::Enum(OOM_SCORE_ADJ), "no", NOT_IN_EFFECT;
    OomScoreAdjValues => "oom-score-adj-values", Kind::OomValues, "0 200 800", NOT_IN_EFFECT;
    Pidfile => "pidfile", Kind::Str, "", IMMUTABLE;
    Port => "port", Kind::Int { min: 0, max: 65535 }, "6379", 0;
    ProcTitleTemplate => "proc-title-template", Kind::Str, "{title} {listen-addr} {server-mode}", NOT_IN_EFFECT;
    PropagationErrorBehavior => "propagation-error-behavior", Kind::Enum(PROPAGATION_ERROR_BEHAVIOR), "ignore", NOT_IN_EFFECT;
    ProtectedMode => "protected-mode", Kind::Bool, "yes", 0;
    ProtoMaxBulkLen => "proto-max-bulk-len", Kind::Memory { min: MB, max: I64 }, "536870912", 0;
    RdbDelSyncFiles => "rdb-del-sync-files", Kind::Bool, "no", NOT_IN_EFFECT;
    RdbKeySaveDelay => "rdb-key-save-delay", Kind::Int { min: -I32 - 1, max: I32 }, "0", HIDDEN | NOT_IN_EFFECT;
    RdbSaveIncrementalFsync => "rdb-save-incremental-fsync", Kind::Bool, "yes", NOT_IN_EFFECT;
    // Keel's own: the RDB version written (10 = files Redis 7.0 can load). Hidden, so
    // CONFIG GET patterns list exactly Redis's parameters.
    RdbVersion => "rdb-version", Kind::Int { min: 10, max: 11 }, "11", HIDDEN;
    Rdbchecksum => "rdbchecksum", Kind::Bool, "yes", IMMUTABLE;
    Rdbcompression => "rdbcompression", Kind::Bool, "yes", 0;
    ReplBacklogSize => "repl-backlog-size", Kind::Memory { min: 0, max: I64 }, "1048576", NOT_IN_EFFECT;
    ReplBacklogTtl => "repl-backlog-ttl", Kind::Int { min: 0, max: I64 }, "3600", NOT_IN_EFFECT;
    ReplDisableTcpNodelay => "repl-disable-tcp-nodelay", Kind::Bool, "no", NOT_IN_EFFECT;
    ReplDisklessLoad => "repl-diskless-load", Kind::Enum(REPL_DISKLESS_LOAD), "disabled", NOT_IN_EFFECT;
    ReplDisklessSync => "repl-diskless-sync", Kind::Bool, "yes", NOT_IN_EFFECT;
    ReplDisklessSyncDelay => "repl-diskless-sync-delay", Kind::Int { min: 0, max: I32 }, "5", NOT_IN_EFFECT;
    ReplDisklessSyncMaxReplicas => "repl-diskless-sync-max-replicas", Kind::Int { min: 0, max: I32 }, "0", NOT_IN_EFFECT;
    ReplPingReplicaPeriod => "repl-ping-replica-period" | "repl-ping-slave-period", Kind::Int { min: 1, max: I32 }, "10", NOT_IN_EFFECT;
    ReplTimeout => "repl-timeout", Kind::Int { min: 1, max: I32 }, "60", NOT_IN_EFFECT;
    ReplicaAnnounceIp => "replica-announce-ip" | "slave-announce-ip", Kind::Str, "", NOT_IN_EFFECT;
    ReplicaAnnouncePort => "replica-announce-port" | "slave-announce-port", Kind::Int { min: 0, max: 65535 }, "0", NOT_IN_EFFECT;
    ReplicaAnnounced => "replica-announced", Kind::Bool, "yes", NOT_IN_EFFECT;
    ReplicaIgnoreDiskWriteErrors => "replica-ignore-disk-write-errors", Kind::Bool, "no", NOT_IN_EFFECT;
    ReplicaIgnoreMaxmemory => "replica-ignore-maxmemory" | "slave-ignore-maxmemory", Kind::Bool, "yes", NOT_IN_EFFECT;
    ReplicaLazyFlush => "replica-lazy-flush" | "slave-lazy-flush", Kind::Bool, "no", NOT_IN_EFFECT;
    ReplicaPriority => "replica-priority" | "slave-priority", Kind::Int { min: 0, max: I32 }, "100", NOT_IN_EFFECT;
    ReplicaReadOnly => "replica-read-only" | "slave-read-only", Kind::Bool, "yes", NOT_IN_EFFECT;
    ReplicaServeStaleData => "replica-serve-stale-data" | "slave-serve-stale-data", Kind::Bool, "yes", NOT_IN_EFFECT;
    Replicaof => "replicaof" | "slaveof", Kind::HostPort, "", IMMUTABLE | NOT_IN_EFFECT;
    Requirepass => "requirepass", Kind::Str, "", SENSITIVE;
    SanitizeDumpPayload => "sanitize-dump-payload", Kind::Enum(SANITIZE_DUMP_PAYLOAD), "no", NOT_IN_EFFECT;
    Save => "save", Kind::Save, "3600 1 300 100 60 10000", 0;
    ServerCpulist => "server_cpulist", Kind::Str, "", IMMUTABLE | NOT_IN_EFFECT;
    SetMaxIntsetEntries => "set-max-intset-entries", Kind::Int { min: 0, max: I64 }, "512", 0;
    SetMaxListpackEntries => "set-max-listpack-entries", Kind::Int { min: 0, max: I64 }, "128", 0;
    SetMaxListpackValue => "set-max-listpack-value", Kind::Memory { min: 0, max: I64 }, "64", 0;
    SetProcTitle => "set-proc-title", Kind::Bool, "yes", IMMUTABLE | NOT_IN_EFFECT;
    ShutdownOnSigint => "shutdown-on-sigint", Kind::Flags(SHUTDOWN_ON_SIGNAL), "default", NOT_IN_EFFECT;
    ShutdownOnSigterm => "shutdown-on-sigterm", Kind::Flags(SHUTDOWN_ON_SIGNAL), "default", NOT_IN_EFFECT;
    ShutdownTimeout => "shutdown-timeout", Kind::Int { min: 0, max: I32 }, "10", NOT_IN_EFFECT;
    SlowlogLogSlowerThan => "slowlog-log-slower-than", Kind::Int { min: -1, max: I64 }, "10000", 0;
    SlowlogMaxLen => "slowlog-max-len", Kind::Int { min: 0, max: I64 }, "128", 0;
    SocketMarkId => "socket-mark-id", Kind::Int { min: 0, max: U32 }, "0", IMMUTABLE | NOT_IN_EFFECT;
    StopWritesOnBgsaveError => "stop-writes-on-bgsave-error", Kind::Bool, "yes", 0;
    StreamNodeMaxBytes => "stream-node-max-bytes", Kind::Memory { min: 0, max: I64 }, "4096", 0;
    StreamNodeMaxEntries => "stream-node-max-entries", Kind::Int { min: 0, max: I64 }, "100", 0;
    Supervised => "supervised", Kind::Enum(SUPERVISED), "no", IMMUTABLE | NOT_IN_EFFECT;
    SyslogEnabled => "syslog-enabled", Kind::Bool, "no", IMMUTABLE | NOT_IN_EFFECT;
    SyslogFacility => "syslog-facility", Kind::Enum(SYSLOG_FACILITY), "local0", IMMUTABLE | NOT_IN_EFFECT;
    SyslogIdent => "syslog-ident", Kind::Str, "redis", IMMUTABLE | NOT_IN_EFFECT;
    TcpBacklog => "tcp-backlog", Kind::Int { min: 0, max: I32 }, "511", IMMUTABLE;
    TcpKeepalive => "tcp-keepalive", Kind::Int { min: 0, max: I32 }, "300", 0;
    Timeout => "timeout", Kind::Int { min: 0, max: I32 }, "0", 0;
    TlsAuthClients => "tls-auth-clients", Kind::Enum(TLS_AUTH_CLIENTS), "yes", 0;
    TlsCaCertDir => "tls-ca-cert-dir", Kind::Str, "", 0;
    TlsCaCertFile => "tls-ca-cert-file", Kind::Str, "", 0;
    TlsCertFile => "tls-cert-file", Kind::Str, "", 0;
    TlsCiphers => "tls-ciphers", Kind::Str, "", 0;
    TlsCiphersuites => "tls-ciphersuites", Kind::Str, "", 0;
    TlsClientCertFile => "tls-client-cert-file", Kind::Str, "", NOT_IN_EFFECT;
    TlsClientKeyFile => "tls-client-key-file", Kind::Str, "", NOT_IN_EFFECT;
    TlsClientKeyFilePass => "tls-client-key-file-pass", Kind::Str, "", SENSITIVE | NOT_IN_EFFECT;
    TlsCluster => "tls-cluster", Kind::Bool, "no", NOT_IN_EFFECT;
    TlsDhParamsFile => "tls-dh-params-file", Kind::Str, "", NOT_IN_EFFECT;
    TlsKeyFile => "tls-key-file", Kind::Str, "", 0;
    TlsKeyFilePass => "tls-key-file-pass", Kind::Str, "", SENSITIVE | NOT_IN_EFFECT;
    TlsPort => "tls-port", Kind::Int { min: 0, max: 65535 }, "0", 0;
    TlsPreferServerCiphers => "tls-prefer-server-ciphers", Kind::Bool, "no", NOT_IN_EFFECT;
    TlsProtocols => "tls-protocols", Kind::Str, "", 0;
    TlsReplication => "tls-replication", Kind::Bool, "no", NOT_IN_EFFECT;
    TlsSessionCacheSize => "tls-session-cache-size", Kind::Int { min: 0, max: I32 }, "20480", NOT_IN_EFFECT;
    TlsSessionCacheTimeout => "tls-session-cache-timeout", Kind::Int { min: 0, max: I32 }, "300", NOT_IN_EFFECT;
    TlsSessionCaching => "tls-session-caching", Kind::Bool, "yes", NOT_IN_EFFECT;
    TrackingTableMaxKeys => "tracking-table-max-keys", Kind::Int { min: 0, max: I64 }, "1000000", NOT_IN_EFFECT;
    Unixsocket => "unixsocket", Kind::Str, "", IMMUTABLE;
    Unixsocketperm => "unixsocketperm", Kind::Octal { max: 0o777 }, "0", IMMUTABLE;
    ZsetMaxListpackEntries => "zset-max-listpack-entries" | "zset-max-ziplist-entries", Kind::Int { min: 0, max: I64 }, "128", 0;
    ZsetMaxListpackValue => "zset-max-listpack-value" | "zset-max-ziplist-value", Kind::Memory { min: 0, max: I64 }, "64", 0;
}

/// Why a value was refused; the text is what Redis prints.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BadValue(pub String);

impl fmt::Display for BadValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

fn bad(text: &str) -> BadValue {
    BadValue(text.to_string())
}

/// Finds a parameter by name or alias (any letter case).
pub fn find(name: &str) -> Option<(usize, &'static Param)> {
    PARAMS.iter().enumerate().find(|(_, p)| {
        p.name.eq_ignore_ascii_case(name) || p.alias.is_some_and(|a| a.eq_ignore_ascii_case(name))
    })
}

/// Parses a memory amount: digits, optionally followed by `b`, `k`, `kb`, `m`, `mb`, `g` or
/// `gb` in any case (`k` = 1000, `kb` = 1024, as Redis's config reader counts).
pub fn parse_memory(s: &str) -> Option<i64> {
    let lower = s.to_ascii_lowercase();
    let units: &[(&str, i64)] = &[
        ("gb", 1024 * 1024 * 1024),
        ("mb", 1024 * 1024),
        ("kb", 1024),
        ("g", 1_000_000_000),
        ("m", 1_000_000),
        ("k", 1000),
        ("b", 1),
    ];
    let (num, mul) = units
        .iter()
        .find_map(|(suffix, mul)| lower.strip_suffix(suffix).map(|n| (n, *mul)))
        .unwrap_or((lower.as_str(), 1));
    if num.is_empty() || !num.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    num.parse::<i64>().ok()?.checked_mul(mul)
}

fn range(n: i64, min: i64, max: i64) -> Result<Val, BadValue> {
    if n < min || n > max {
        Err(BadValue(format!("argument must be between {min} and {max} inclusive")))
    } else {
        Ok(Val::Int(n))
    }
}

fn enum_error(words: &[&str]) -> BadValue {
    BadValue(format!("argument(s) must be one of the following: {}", words.join(", ")))
}

/// Parses `text` as a value of `param`; `current` is the value it replaces (a partial
/// `client-output-buffer-limit` keeps the classes it does not name).
pub fn parse_value(param: &Param, text: &str, current: &Val) -> Result<Val, BadValue> {
    match param.kind {
        Kind::Bool => match text.to_ascii_lowercase().as_str() {
            "yes" => Ok(Val::Bool(true)),
            "no" => Ok(Val::Bool(false)),
            _ => Err(bad("argument must be 'yes' or 'no'")),
        },
        Kind::Int { min, max } => {
            let n = resp::request::parse_i64(text.as_bytes())
                .ok_or_else(|| bad("argument couldn't be parsed into an integer"))?;
            range(n, min, max)
        }
        // Keel's `maxmemory auto`: a share of the cgroup (or machine) memory limit.
        Kind::Memory { .. } if param.name == "maxmemory" && text.eq_ignore_ascii_case("auto") => {
            Ok(Val::Int(crate::memory::auto_maxmemory()))
        }
        Kind::Memory { min, max } => {
            let n = parse_memory(text).ok_or_else(|| bad("argument must be a memory value"))?;
            range(n, min, max)
        }
        Kind::MemoryPercent => match text.strip_suffix('%') {
            Some(p) => {
                let n = resp::request::parse_i64(p.as_bytes())
                    .filter(|n| *n >= 0)
                    .ok_or_else(|| bad("argument must be a memory or percent value"))?;
                if n > 100 {
                    return Err(bad("percentage argument must be less or equal to 100"));
                }
                Ok(Val::Int(-n))
            }
            None => parse_memory(text)
                .map(Val::Int)
                .ok_or_else(|| bad("argument must be a memory or percent value")),
        },
        Kind::Octal { max } => {
            let n = i64::from_str_radix(text, 8)
                .ok()
                .filter(|_| !text.starts_with(['+', '-']))
                .ok_or_else(|| bad("argument couldn't be parsed into an integer"))?;
            range(n, 0, max)
        }
        Kind::Enum(words) => words
            .iter()
            .position(|w| w.eq_ignore_ascii_case(text))
            .map(Val::Enum)
            .ok_or_else(|| enum_error(words)),
        Kind::Flags(words) => {
            let mut bits = 0i64;
            for word in text.split(' ') {
                let i = words
                    .iter()
                    .position(|w| w.eq_ignore_ascii_case(word))
                    .ok_or_else(|| enum_error(words))?;
                if i > 0 {
                    bits |= 1 << (i - 1);
                }
            }
            Ok(Val::Int(bits))
        }
        Kind::Str | Kind::Dir => Ok(Val::Str(text.to_string())),
        Kind::Save => parse_save(text),
        Kind::Bind => {
            if text.split_ascii_whitespace().count() > 16 {
                return Err(bad("Too many bind addresses specified."));
            }
            Ok(Val::Str(text.split_ascii_whitespace().collect::<Vec<_>>().join(" ")))
        }
        Kind::HostPort => {
            let words: Vec<&str> = text.split_ascii_whitespace().collect();
            if !words.is_empty() && words.len() != 2 {
                return Err(bad("wrong number of arguments"));
            }
            Ok(Val::Str(words.join(" ")))
        }
        Kind::OutputLimits => parse_output_limits(text, current),
        Kind::NotifyEvents => parse_notify_events(text),
        Kind::OomValues => {
            let words: Vec<&str> = text.split_ascii_whitespace().collect();
            if words.len() != 3 {
                return Err(bad("wrong number of arguments"));
            }
            let mut out = Vec::with_capacity(3);
            for w in words {
                match resp::request::parse_i64(w.as_bytes()) {
                    Some(n) if (-2000..=2000).contains(&n) => out.push(n.to_string()),
                    _ => return Err(bad(
                        "Invalid oom-score-adj-values, elements must be between -2000 and 2000.",
                    )),
                }
            }
            Ok(Val::Str(out.join(" ")))
        }
        Kind::Percentiles => {
            let mut out = Vec::new();
            for w in text.split_ascii_whitespace() {
                let n: f64 =
                    w.parse().ok().filter(|n: &f64| n.is_finite()).ok_or_else(|| {
                        bad("Invalid latency-tracking-info-percentiles parameters")
                    })?;
                if !(0.0..=100.0).contains(&n) {
                    return Err(bad(
                        "latency-tracking-info-percentiles parameters should sit between [0.0,100.0]",
                    ));
                }
                out.push(n.to_string());
            }
            Ok(Val::Str(out.join(" ")))
        }
    }
}

/// `save`: "" (no snapshots) or pairs `<seconds> <changes>`, split on single spaces as
/// Redis splits it (so a stray space makes an empty, invalid element).
fn parse_save(text: &str) -> Result<Val, BadValue> {
    if text.is_empty() {
        return Ok(Val::Str(String::new()));
    }
    let parts: Vec<&str> = text.split(' ').collect();
    if !parts.len().is_multiple_of(2) {
        return Err(bad("Invalid save parameters"));
    }
    let mut out = Vec::new();
    for p in parts {
        match p.parse::<i64>() {
            Ok(n) if n >= 0 => out.push(n.to_string()),
            _ => return Err(bad("Invalid save parameters")),
        }
    }
    Ok(Val::Str(out.join(" ")))
}

/// The classes of `client-output-buffer-limit`, in printing order, with accepted names.
const OUTPUT_CLASSES: &[(&str, &[&str])] =
    &[("normal", &["normal"]), ("slave", &["slave", "replica"]), ("pubsub", &["pubsub"])];

fn parse_output_limits(text: &str, current: &Val) -> Result<Val, BadValue> {
    let words: Vec<&str> = text.split_ascii_whitespace().collect();
    if !words.len().is_multiple_of(4) {
        return Err(bad("Wrong number of arguments in buffer limit configuration."));
    }
    // Start from the current three classes, as printed: class hard soft seconds.
    let cur = match current {
        Val::Str(s) => s.as_str(),
        _ => "",
    };
    let mut limits: Vec<[String; 3]> = OUTPUT_CLASSES
        .iter()
        .map(|(name, _)| {
            let mut it = cur.split(' ').skip_while(|w| w != name).skip(1);
            let mut next = || it.next().unwrap_or("0").to_string();
            [next(), next(), next()]
        })
        .collect();
    for group in words.chunks(4) {
        let Some(class) = OUTPUT_CLASSES
            .iter()
            .position(|(_, names)| names.iter().any(|n| n.eq_ignore_ascii_case(group[0])))
        else {
            return Err(bad("Invalid client class specified in buffer limit configuration."));
        };
        let hard = parse_memory(group[1]);
        let soft = parse_memory(group[2]);
        let secs = resp::request::parse_i64(group[3].as_bytes()).filter(|n| *n >= 0);
        let (Some(hard), Some(soft), Some(secs)) = (hard, soft, secs) else {
            return Err(bad(
                "Error in hard, soft or soft_seconds setting in buffer limit configuration.",
            ));
        };
        limits[class] = [hard.to_string(), soft.to_string(), secs.to_string()];
    }
    let out: Vec<String> = OUTPUT_CLASSES
        .iter()
        .zip(&limits)
        .map(|((name, _), [h, s, sec])| format!("{name} {h} {s} {sec}"))
        .collect();
    Ok(Val::Str(out.join(" ")))
}

/// Keyspace notification class letters, in the order Redis prints them; `A` stands for all
/// of the first eleven.
const EVENT_CLASSES: &str = "g$lshzxetdn";

fn parse_notify_events(text: &str) -> Result<Val, BadValue> {
    let mut set = [false; 128];
    for c in text.chars() {
        if c == 'A' {
            for l in EVENT_CLASSES.bytes() {
                set[usize::from(l)] = true;
            }
        } else if c.is_ascii() && "g$lshzxetdnKEm".contains(c) {
            set[c as usize] = true;
        } else {
            return Err(bad("Invalid event class character. Use 'Ag$lshzxeKEtmdn'."));
        }
    }
    let mut out = String::new();
    // Redis prints `A` when every class is on, and then forgets `n` (it is checked only in
    // the per-letter branch); reproduced because clients compare the string.
    if "g$lshzxetd".bytes().all(|l| set[usize::from(l)]) {
        out.push('A');
    } else {
        out.extend(EVENT_CLASSES.chars().filter(|&l| set[l as usize]));
    }
    out.extend("KEm".chars().filter(|&l| set[l as usize]));
    Ok(Val::Str(out))
}

/// Renders a value the way `CONFIG GET` prints it.
pub fn render(param: &Param, v: &Val) -> String {
    match (v, param.kind) {
        (Val::Bool(b), _) => if *b { "yes" } else { "no" }.into(),
        (Val::Int(n), Kind::MemoryPercent) if *n < 0 => format!("{}%", -n),
        (Val::Int(n), Kind::Octal { .. }) => format!("{n:o}"),
        (Val::Int(0), Kind::Flags(words)) => words.first().copied().unwrap_or("").into(),
        (Val::Int(n), Kind::Flags(words)) => words
            .iter()
            .enumerate()
            .skip(1)
            .filter(|(i, _)| n & (1 << (i - 1)) != 0)
            .map(|(_, w)| *w)
            .collect::<Vec<_>>()
            .join(" "),
        (Val::Int(n), _) => n.to_string(),
        (Val::Enum(i), Kind::Enum(words)) => words.get(*i).copied().unwrap_or("").into(),
        (Val::Enum(i), _) => i.to_string(),
        (Val::Str(_), Kind::Dir) => {
            std::env::current_dir().map(|p| p.display().to_string()).unwrap_or_default()
        }
        (Val::Str(s), _) => s.clone(),
    }
}

/// The current value of every parameter.
#[derive(Clone, Debug)]
pub struct Config {
    values: Vec<Val>,
    /// The config file the server started from, for CONFIG REWRITE.
    pub file: Option<PathBuf>,
    /// `user <name> <rules...>` lines, name first, in file order (applied at startup).
    pub users: Vec<Vec<bytes::Bytes>>,
    /// `rename-command <name> <new-name>` lines (an empty new name disables the command).
    pub renames: Vec<(String, String)>,
}

impl Default for Config {
    fn default() -> Self {
        let values = PARAMS
            .iter()
            .map(|p| match parse_value(p, p.default, &Val::Str(String::new())) {
                Ok(v) => v,
                // The table's defaults are tested to parse; fall back to the text.
                Err(_) => Val::Str(p.default.to_string()),
            })
            .collect();
        Config { values, file: None, users: Vec::new(), renames: Vec::new() }
    }
}

impl Config {
    /// Integer value of an Int or Memory parameter.
    pub fn int(&self, p: P) -> i64 {
        match &self.values[p as usize] {
            Val::Int(n) => *n,
            _ => 0,
        }
    }

    /// Value of a Bool parameter.
    pub fn bool(&self, p: P) -> bool {
        matches!(self.values[p as usize], Val::Bool(true))
    }

    /// Value of a text parameter.
    pub fn str(&self, p: P) -> &str {
        match &self.values[p as usize] {
            Val::Str(s) => s,
            _ => "",
        }
    }

    /// The word chosen for an Enum parameter.
    pub fn word(&self, p: P) -> &'static str {
        match (&self.values[p as usize], PARAMS[p as usize].kind) {
            (Val::Enum(i), Kind::Enum(words)) => words.get(*i).copied().unwrap_or(""),
            _ => "",
        }
    }

    /// Value of parameter number `i` as text.
    pub fn get_text(&self, i: usize) -> String {
        render(&PARAMS[i], &self.values[i])
    }

    /// Validates `text` for parameter number `i` without applying it.
    pub fn check(&self, i: usize, text: &str) -> Result<Val, BadValue> {
        parse_value(&PARAMS[i], text, &self.values[i])
    }

    /// Applies a value produced by [`Config::check`]; fails only when the world refuses
    /// (`dir` naming a missing directory).
    pub fn apply(&mut self, i: usize, v: Val) -> Result<(), BadValue> {
        let v = match (PARAMS[i].kind, v) {
            (Kind::Dir, Val::Str(d)) => {
                if !d.is_empty() {
                    std::env::set_current_dir(&d).map_err(|e| BadValue(io_reason(&e)))?;
                }
                Val::Str(d)
            }
            // Redis keeps hz within [1, 500] whatever was asked for.
            (_, Val::Int(n)) if i == P::Hz as usize => Val::Int(n.clamp(1, 500)),
            // Lists read the depth when created, so it lives where they can see it.
            (_, Val::Int(n)) if i == P::ListCompressDepth as usize => {
                crate::types::ListValue::set_compress_depth(n);
                Val::Int(n)
            }
            (_, v) => v,
        };
        self.values[i] = v;
        Ok(())
    }

    /// Sets parameter number `i` from text after validating it.
    pub fn set_text(&mut self, i: usize, text: &str) -> Result<(), BadValue> {
        let v = self.check(i, text)?;
        self.apply(i, v)
    }

    /// The raw value of parameter number `i` (for rollback of a failed CONFIG SET).
    pub fn value(&self, i: usize) -> &Val {
        &self.values[i]
    }
}

/// An I/O error as C's `strerror` words it (Rust appends ` (os error N)`).
pub fn io_reason(e: &std::io::Error) -> String {
    let s = e.to_string();
    match s.find(" (os error") {
        Some(cut) => s[..cut].to_string(),
        None => s,
    }
}

/// A fatal error while reading the configuration, reported the way Redis reports it.
#[derive(Debug)]
pub enum FatalConfig {
    /// A bad line: printed as Redis's `*** FATAL CONFIG FILE ERROR ***` block on stderr.
    Line {
        /// 1-based line number in the combined config text.
        line: usize,
        /// The offending line.
        text: String,
        /// What was wrong.
        reason: String,
    },
    /// A config file that cannot be read: Redis logs one line and exits.
    Open(String),
}

impl fmt::Display for FatalConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FatalConfig::Line { line, text, reason } => write!(
                f,
                "\n*** FATAL CONFIG FILE ERROR (Redis {}) ***\nReading the configuration file, at line {line}\n>>> '{text}'\n{reason}",
                crate::REDIS_VERSION
            ),
            FatalConfig::Open(msg) => f.write_str(msg),
        }
    }
}

fn read_file(path: &str) -> Result<String, FatalConfig> {
    std::fs::read_to_string(path).map_err(|e| {
        FatalConfig::Open(format!(
            "Fatal error, can't open config file '{path}': {}",
            io_reason(&e)
        ))
    })
}

/// Loads the configuration from redis-server's command line (`[config-file] [--name value ...]`);
/// `-` as the file reads the configuration from standard input.
pub fn from_args(args: &[String]) -> Result<Config, FatalConfig> {
    let mut config = Config::default();
    let mut text = String::new();
    let mut rest = args;
    if let Some(first) = args.first() {
        if first == "-" {
            let mut body = String::new();
            std::io::Read::read_to_string(&mut std::io::stdin(), &mut body)
                .map_err(|e| FatalConfig::Open(format!("Fatal error, can't read stdin: {e}")))?;
            text.push_str(&body);
            rest = &args[1..];
        } else if !first.starts_with("--") {
            text.push_str(&read_file(first)?);
            // CONFIG REWRITE needs the absolute path: `dir` may change the working directory.
            config.file = Some(std::path::absolute(first).unwrap_or_else(|_| PathBuf::from(first)));
            rest = &args[1..];
        }
    }
    // Like Redis, turn `--name v1 v2 --other v` into config lines appended after the file.
    let mut options = String::new();
    for a in rest {
        if let Some(name) = a.strip_prefix("--") {
            if !options.is_empty() {
                options.push('\n');
            }
            options.push_str(name);
        } else {
            if !options.is_empty() {
                options.push(' ');
            }
            options.push_str(&quote(a));
        }
    }
    if !options.is_empty() {
        text.push('\n');
        text.push_str(&options);
    }
    load_text(&mut config, &text)?;
    Ok(config)
}

/// Quotes an argument the way Redis's `sdscatrepr` does, so spaces and empty strings
/// survive splitting and the FATAL report shows the line as Redis would.
fn quote(a: &str) -> String {
    let mut out = String::from("\"");
    for b in a.bytes() {
        match b {
            b'"' | b'\\' => {
                out.push('\\');
                out.push(char::from(b));
            }
            b'\n' => out.push_str("\\n"),
            b'\r' => out.push_str("\\r"),
            b'\t' => out.push_str("\\t"),
            0x07 => out.push_str("\\a"),
            0x08 => out.push_str("\\b"),
            0x20..=0x7e => out.push(char::from(b)),
            _ => out.push_str(&format!("\\x{b:02x}")),
        }
    }
    out.push('"');
    out
}

/// Applies config-file text to `config`. As in Redis, repeated `save` lines add up rather
/// than replace each other.
pub fn load_text(config: &mut Config, text: &str) -> Result<(), FatalConfig> {
    let mut saves_seen = false;
    for (n, raw) in text.split('\n').enumerate() {
        let line = raw.trim_matches([' ', '\t', '\r', '\n']);
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let fatal = |reason: &str| FatalConfig::Line {
            line: n + 1,
            text: line.to_string(),
            reason: reason.to_string(),
        };
        let Some(argv) = resp::request::split_args(line.as_bytes()) else {
            return Err(fatal("Unbalanced quotes in configuration line"));
        };
        if argv.first().is_some_and(|n| n.eq_ignore_ascii_case(b"user")) {
            config_user(config, argv).map_err(|e| fatal(&e))?;
            continue;
        }
        let argv: Vec<String> =
            argv.into_iter().map(|a| String::from_utf8_lossy(&a).into_owned()).collect();
        let Some(name) = argv.first() else { continue };
        if name.eq_ignore_ascii_case("rename-command") && argv.len() == 3 {
            let table = crate::commands::table();
            if table.get(argv[1].as_bytes()).is_none() {
                return Err(fatal("No such command in rename-command"));
            }
            let taken = table.get(argv[2].as_bytes()).is_some()
                || config.renames.iter().any(|(_, new)| new.eq_ignore_ascii_case(&argv[2]));
            if !argv[2].is_empty() && taken {
                return Err(fatal("Target command name already exists"));
            }
            config.renames.push((argv[1].to_ascii_lowercase(), argv[2].clone()));
            continue;
        }
        if name.eq_ignore_ascii_case("include") && argv.len() == 2 {
            let body = read_file(&argv[1])?;
            load_text(config, &body)?;
            continue;
        }
        let Some((i, param)) = find(name) else {
            return Err(fatal("Bad directive or wrong number of arguments"));
        };
        let mut value = if param.multi_arg() {
            argv[1..].join(" ")
        } else if argv.len() != 2 {
            return Err(fatal("wrong number of arguments"));
        } else {
            argv[1].clone()
        };
        if matches!(param.kind, Kind::Save) {
            if saves_seen && !value.is_empty() && !config.str(P::Save).is_empty() {
                value = format!("{} {value}", config.str(P::Save));
            }
            saves_seen = true;
        }
        config.set_text(i, &value).map_err(|e| fatal(&e.0))?;
    }
    Ok(())
}

/// A `user` line: checked now (a malformed rule is a fatal config error, as in Redis),
/// applied when the server starts.
fn config_user(config: &mut Config, argv: Vec<Vec<u8>>) -> Result<(), String> {
    let argv: Vec<bytes::Bytes> = argv.into_iter().map(bytes::Bytes::from).collect();
    let Some(name) = argv.get(1) else {
        return Err("Bad directive or wrong number of arguments".into());
    };
    let culprit = |at: &bytes::Bytes, e: crate::acl::RuleError| {
        format!("Error in user declaration '{}': {}", String::from_utf8_lossy(at), e.text())
    };
    if config.users.iter().any(|u| u.first() == Some(name)) {
        return Err(culprit(name, crate::acl::RuleError::Duplicate));
    }
    let rules = crate::acl::merge_selectors(&argv[2..])
        .map_err(|at| culprit(&argv[2 + at], crate::acl::RuleError::Syntax))?;
    let mut probe = crate::acl::User::new();
    for op in &rules {
        match probe.apply(op) {
            // Unknown commands are reported when the users are applied.
            Ok(()) | Err(crate::acl::RuleError::Unknown) => {}
            Err(e) => return Err(culprit(op, e)),
        }
    }
    let mut line = vec![name.clone()];
    line.extend(rules);
    config.users.push(line);
    Ok(())
}

/// Every `(name, value)` pair whose name matches one of `patterns`, each name once, in table
/// order. An alias is its own entry (as in Redis: `slaveof` and `replicaof` both show);
/// hidden parameters answer only to their exact name.
pub fn matching(config: &Config, patterns: &[&[u8]]) -> Vec<(&'static str, String)> {
    let mut out = Vec::new();
    for (i, p) in PARAMS.iter().enumerate() {
        for name in std::iter::once(p.name).chain(p.alias) {
            let hit = patterns.iter().any(|pat| {
                pat.eq_ignore_ascii_case(name.as_bytes())
                    || (!p.has(HIDDEN) && crate::glob::matches(pat, name.as_bytes(), true))
            });
            if hit {
                out.push((name, config.get_text(i)));
            }
        }
    }
    out
}

/// `CONFIG REWRITE`: rewrites `path` keeping comments and unknown lines, replacing the
/// lines of parameters whose value differs from the default (one line per parameter, the
/// first occurrence), dropping lines of parameters back at their default, and appending
/// the rest after a `# Generated by CONFIG REWRITE` marker.
pub fn rewrite(config: &Config, path: &Path) -> std::io::Result<()> {
    let old = match std::fs::read_to_string(path) {
        Ok(s) => s,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => String::new(),
        Err(e) => return Err(e),
    };
    const MARKER: &str = "# Generated by CONFIG REWRITE";
    let lines_for = |i: usize| -> Vec<String> {
        let p = &PARAMS[i];
        let v = config.get_text(i);
        let default = Config::default().get_text(i);
        if v == default && !matches!(p.kind, Kind::Dir) {
            return Vec::new();
        }
        match p.kind {
            // Each save point is its own line; "" means "no snapshots".
            Kind::Save if v.is_empty() => vec!["save \"\"".to_string()],
            Kind::Save => v
                .split(' ')
                .collect::<Vec<_>>()
                .chunks(2)
                .map(|c| format!("save {}", c.join(" ")))
                .collect(),
            _ if p.multi_arg() => vec![format!("{} {}", p.name, v)],
            _ => vec![format!("{} {}", p.name, quote_if_needed(&v))],
        }
    };
    let mut done = vec![false; PARAMS.len()];
    let mut out: Vec<String> = Vec::new();
    for raw in old.lines() {
        if raw.trim() == MARKER {
            continue;
        }
        let trimmed = raw.trim();
        let name = resp::request::split_args(trimmed.as_bytes())
            .and_then(|a| a.into_iter().next())
            .map(|a| String::from_utf8_lossy(&a).into_owned());
        let found = match (&name, trimmed.starts_with('#')) {
            (Some(n), false) => find(n),
            _ => None,
        };
        match found {
            Some((i, _)) if !done[i] => {
                done[i] = true;
                out.extend(lines_for(i));
            }
            Some(_) => {}
            None => out.push(raw.to_string()),
        }
    }
    let mut appended = Vec::new();
    for (i, seen) in done.iter().enumerate() {
        if !seen {
            appended.extend(lines_for(i));
        }
    }
    if !appended.is_empty() {
        out.push(MARKER.to_string());
        out.extend(appended);
    }
    let mut body = out.join("\n");
    body.push('\n');
    // Write a sibling file and rename it over the old one, so a crash never leaves half a
    // config file.
    let tmp = path.with_extension("rewrite.tmp");
    std::fs::write(&tmp, body)?;
    std::fs::rename(&tmp, path)
}

/// A value as a config-file word: quoted when empty or holding spaces, quotes or controls.
fn quote_if_needed(v: &str) -> String {
    if v.is_empty() || v.bytes().any(|b| b <= b' ' || b == b'"' || b == b'\'' || b >= 0x7f) {
        quote(v)
    } else {
        v.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_parse() {
        for p in PARAMS {
            assert!(
                parse_value(p, p.default, &Val::Str(String::new())).is_ok(),
                "default of {} does not parse",
                p.name
            );
        }
    }

    #[test]
    fn memory_units() {
        assert_eq!(parse_memory("256mb"), Some(256 * 1024 * 1024));
        assert_eq!(parse_memory("1gb"), Some(1 << 30));
        assert_eq!(parse_memory("1k"), Some(1000));
        assert_eq!(parse_memory("1KB"), Some(1024));
        assert_eq!(parse_memory("12"), Some(12));
        assert_eq!(parse_memory("x"), None);
        assert_eq!(parse_memory("-1"), None);
        assert_eq!(parse_memory("kb"), None);
    }

    #[test]
    fn command_line() {
        let args: Vec<String> = ["--port", "6380", "--maxmemory", "256mb", "--save", ""]
            .iter()
            .map(|s| s.to_string())
            .collect();
        let c = from_args(&args).unwrap();
        assert_eq!(c.int(P::Port), 6380);
        assert_eq!(c.int(P::Maxmemory), 256 * 1024 * 1024);
        assert_eq!(c.str(P::Save), "");
        let bad: Vec<String> = ["--nosuch", "1"].iter().map(|s| s.to_string()).collect();
        let e = from_args(&bad).unwrap_err().to_string();
        assert!(
            e.ends_with(
                "at line 2\n>>> 'nosuch \"1\"'\nBad directive or wrong number of arguments"
            ),
            "{e}"
        );
    }

    #[test]
    fn special_kinds() {
        let mut c = Config::default();
        let i = P::NotifyKeyspaceEvents as usize;
        c.set_text(i, "KEA").unwrap();
        assert_eq!(c.get_text(i), "AKE");
        c.set_text(i, "nmEKgx").unwrap();
        assert_eq!(c.get_text(i), "gxnKEm");
        let i = P::ClientOutputBufferLimit as usize;
        c.set_text(i, "replica 1 2 3").unwrap();
        assert_eq!(c.get_text(i), "normal 0 0 0 slave 1 2 3 pubsub 33554432 8388608 60");
        let i = P::ShutdownOnSigint as usize;
        c.set_text(i, "now nosave").unwrap();
        assert_eq!(c.get_text(i), "nosave now");
        assert!(c.set_text(P::Save as usize, "1 2 ").is_err());
        c.set_text(P::Hz as usize, "1000").unwrap();
        assert_eq!(c.int(P::Hz), 500);
    }

    #[test]
    fn save_lines_add_up() {
        let mut c = Config::default();
        load_text(&mut c, "save 900 1\nsave 300 10\n").unwrap();
        assert_eq!(c.str(P::Save), "900 1 300 10");
    }
}
