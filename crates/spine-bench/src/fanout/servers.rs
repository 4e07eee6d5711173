//! The two servers under test, each as its own process so its memory can be read from `/proc`:
//! spine (this binary's `serve` command over a fresh SQLite database) and the peer, nginx with
//! the nchan pub/sub module. Also the memory readings: a process tree's proportional set size
//! and the kernel's TCP buffer memory.

use super::BenchResult;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

/// Stream limits given to the spine child, above the largest subscriber count measured.
const STREAM_LIMIT: &str = "25000";

/// A `spine serve` child process with a tenant and an admin key.
pub(crate) struct SpineChild {
    child: Child,
    /// Where it listens.
    pub addr: SocketAddr,
    /// The tenant's admin key (reads the stream, writes events).
    pub key: String,
}

impl SpineChild {
    /// Creates `dir/fanout.db` with a tenant and a key, then starts `current_exe() serve` on it
    /// (logging to `dir/fanout-spine.log`) and reads the `listening on http://ADDR` line.
    pub async fn start(dir: &Path) -> BenchResult<Self> {
        let store = crate::backend::fresh_sqlite(dir, "fanout.db").await?;
        let (_, key) =
            spine_server::provision::create_tenant_with_admin_key(store.as_ref(), "bench").await?;
        store.close().await;
        let db = format!("sqlite://{}", dir.join("fanout.db").display());
        // Its log (warnings and errors) goes to a file, so it does not interleave with the table.
        let log = dir.join("fanout-spine.log");
        let mut child = Command::new(std::env::current_exe()?)
            .args(["serve", "--db", &db, "--listen", "127.0.0.1:0", "--log", "warn"])
            .env("RUST_LOG", "warn")
            .env("SPINE_MAX_STREAMS", STREAM_LIMIT)
            .env("SPINE_MAX_STREAMS_PER_TENANT", STREAM_LIMIT)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::from(std::fs::File::create(&log)?))
            .kill_on_drop(true)
            .spawn()?;
        let stdout = child.stdout.take().ok_or("the spine child has no stdout")?;
        let mut lines = BufReader::new(stdout).lines();
        let first = tokio::time::timeout(Duration::from_secs(60), lines.next_line())
            .await
            .map_err(|_| {
                format!("the spine child did not start within 60 s; see {}", log.display())
            })??
            .ok_or_else(|| format!("the spine child exited; see {}", log.display()))?;
        let addr = first
            .strip_prefix("listening on http://")
            .ok_or_else(|| format!("unexpected first line from the spine child: {first:?}"))?
            .trim()
            .parse()?;
        // Keep draining stdout so the child never blocks on a full pipe.
        tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
        Ok(Self { child, addr, key })
    }

    /// The process id whose memory is measured.
    pub fn pids(&self) -> Vec<u32> {
        self.child.id().into_iter().collect()
    }

    /// Ends the child (SIGTERM, then SIGKILL after 10 s).
    pub async fn stop(mut self) {
        if let Some(pid) = self.child.id() {
            terminate(pid).await;
        }
        if tokio::time::timeout(Duration::from_secs(10), self.child.wait()).await.is_err() {
            let _ = self.child.kill().await;
        }
    }
}

/// nginx with nchan: one master and `workers` worker processes, started in the foreground.
pub(crate) struct Nginx {
    child: Child,
    master: u32,
    /// Set by [`Nginx::stop`]; otherwise dropping sends the master SIGTERM, so an early return
    /// never leaves workers behind (killing only the master would orphan them).
    stopped: bool,
    /// Where it listens.
    pub addr: SocketAddr,
}

impl Nginx {
    /// Starts nginx with a configuration written into `dir`; `Err` says why the peer is not
    /// available (no nginx, no nchan module, or it did not start).
    pub async fn start(dir: &Path, workers: usize, nofile: u64) -> Result<Self, String> {
        let nginx = find_nginx().ok_or("nginx is not installed")?;
        let module = find_nchan_module().ok_or("the nchan module is not installed")?;
        let addr = free_port().map_err(|e| format!("no free port: {e}"))?;
        let prefix = dir.join("nginx");
        std::fs::create_dir_all(prefix.join("logs")).map_err(|e| e.to_string())?;
        let conf = prefix.join("nginx.conf");
        std::fs::write(&conf, config(&module, &prefix, addr, workers, nofile))
            .map_err(|e| e.to_string())?;
        let mut child = Command::new(nginx)
            .arg("-e")
            .arg(prefix.join("logs/error.log"))
            .arg("-p")
            .arg(&prefix)
            .arg("-c")
            .arg(&conf)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .map_err(|e| format!("cannot start nginx: {e}"))?;
        let master = child.id().ok_or("nginx exited at once")?;
        // Ready once it accepts connections and its workers are up.
        for _ in 0..100 {
            tokio::time::sleep(Duration::from_millis(100)).await;
            if let Ok(Some(status)) = child.try_wait() {
                return Err(format!("nginx exited with {status}; see {}", prefix.display()));
            }
            let accepting = tokio::net::TcpStream::connect(addr).await.is_ok();
            if accepting && children(master).len() >= workers {
                return Ok(Self { child, master, stopped: false, addr });
            }
        }
        terminate(master).await;
        Err("nginx did not start within 10 s".into())
    }

    /// The master and its workers, whose memory is measured.
    pub fn pids(&self) -> Vec<u32> {
        let mut pids = vec![self.master];
        pids.extend(children(self.master));
        pids
    }

    /// Fast shutdown (SIGTERM to the master, which ends its workers).
    pub async fn stop(mut self) {
        self.stopped = true;
        terminate(self.master).await;
        if tokio::time::timeout(Duration::from_secs(10), self.child.wait()).await.is_err() {
            let workers = children(self.master);
            let _ = self.child.kill().await;
            for w in workers {
                let _ = Command::new("kill").arg("-KILL").arg(w.to_string()).status().await;
            }
        }
    }
}

impl Drop for Nginx {
    fn drop(&mut self) {
        if !self.stopped {
            let _ = std::process::Command::new("kill")
                .arg("-TERM")
                .arg(self.master.to_string())
                .status();
        }
    }
}

/// The peer's configuration. Workers get this process's open-files limit (raising it further
/// needs a privilege containers often lack). Buffers hold a whole burst; the channel is created by the first
/// subscriber; `nchan_eventsource_event` names each message `activity` as spine does, so one
/// parser counts both.
fn config(module: &Path, prefix: &Path, addr: SocketAddr, workers: usize, nofile: u64) -> String {
    format!(
        "load_module {module};
daemon off;
master_process on;
worker_processes {workers};
worker_rlimit_nofile {nofile};
pid {prefix}/nginx.pid;
error_log {prefix}/logs/error.log warn;
events {{ worker_connections {nofile}; multi_accept on; }}
http {{
    access_log off;
    client_body_temp_path {prefix}/client_body;
    client_body_buffer_size 64k;
    client_max_body_size 16m;
    keepalive_requests 1000000;
    nchan_max_reserved_memory 512M;
    server {{
        listen {addr} backlog=4096;
        location = /pub {{
            nchan_publisher;
            nchan_channel_id bench;
            nchan_message_buffer_length 20000;
            nchan_message_timeout 10m;
        }}
        location = /sub {{
            nchan_subscriber eventsource websocket;
            nchan_channel_id bench;
            nchan_eventsource_event activity;
            nchan_subscriber_first_message newest;
        }}
    }}
}}
",
        module = module.display(),
        prefix = prefix.display(),
    )
}

fn find_nginx() -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain(["/usr/sbin", "/usr/local/sbin", "/usr/local/nginx/sbin"].map(PathBuf::from))
        .map(|d| d.join("nginx"))
        .find(|p| p.is_file())
}

/// The module's shared object: the usual places, then whatever the system's nginx loads.
fn find_nchan_module() -> Option<PathBuf> {
    let usual = [
        "/usr/lib/nginx/modules/ngx_nchan_module.so",
        "/usr/lib64/nginx/modules/ngx_nchan_module.so",
        "/usr/share/nginx/modules/ngx_nchan_module.so",
        "/usr/local/nginx/modules/ngx_nchan_module.so",
    ];
    if let Some(found) = usual.iter().map(PathBuf::from).find(|p| p.is_file()) {
        return Some(found);
    }
    let enabled = std::fs::read_dir("/etc/nginx/modules-enabled").ok()?;
    enabled.flatten().filter(|e| e.file_name().to_string_lossy().contains("nchan")).find_map(|e| {
        let text = std::fs::read_to_string(e.path()).ok()?;
        let path = text.split_whitespace().skip_while(|w| *w != "load_module").nth(1)?;
        let path = PathBuf::from(path.trim_end_matches(';'));
        path.is_file().then_some(path)
    })
}

/// A loopback port nobody listens on right now.
fn free_port() -> std::io::Result<SocketAddr> {
    std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()
}

async fn terminate(pid: u32) {
    let _ = Command::new("kill").arg("-TERM").arg(pid.to_string()).status().await;
}

/// Child processes of `pid`, from `/proc/*/stat`.
fn children(pid: u32) -> Vec<u32> {
    let Ok(entries) = std::fs::read_dir("/proc") else { return Vec::new() };
    entries
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<u32>().ok())
        .filter(|&p| {
            let stat = std::fs::read_to_string(format!("/proc/{p}/stat")).unwrap_or_default();
            // Fields after the `(comm)`: state, then the parent's pid.
            let after = stat.rsplit_once(')').map(|(_, rest)| rest).unwrap_or_default();
            after.split_whitespace().nth(1).and_then(|s| s.parse::<u32>().ok()) == Some(pid)
        })
        .collect()
}

/// Memory of a set of processes plus the kernel's TCP buffers, in bytes.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Memory {
    /// Sum of the processes' proportional set size (`Pss` in `/proc/PID/smaps_rollup`): private
    /// pages in full, shared pages (libraries, nchan's shared-memory zone) divided among the
    /// processes mapping them, so a page shared by master and worker is counted once.
    pub processes: u64,
    /// System-wide TCP buffer memory (`/proc/net/sockstat`, `TCP: ... mem` pages of 4 KiB).
    pub kernel_tcp: u64,
    /// System-wide kernel objects every open socket holds (`/proc/slabinfo`, active objects
    /// times object size): the TCP socket, its inode, its open file and its epoll entry. Each
    /// connection has two ends on this machine with the same objects; `dentry` (192 bytes per
    /// socket) is left out because builds and other processes churn it.
    pub socket_slab: u64,
}

impl Memory {
    /// Reads the memory of `pids` now.
    pub fn read(pids: &[u32]) -> Self {
        Self {
            processes: pids.iter().map(|&p| pss(p)).sum(),
            kernel_tcp: tcp_mem(),
            socket_slab: socket_slab(),
        }
    }
}

/// See [`Memory::socket_slab`]; 0 where `/proc/slabinfo` cannot be read (it needs root).
fn socket_slab() -> u64 {
    const CACHES: [&str; 4] = ["TCP", "sock_inode_cache", "filp", "eventpoll_epi"];
    let text = std::fs::read_to_string("/proc/slabinfo").unwrap_or_default();
    text.lines()
        .filter_map(|line| {
            let mut words = line.split_whitespace();
            let name = words.next()?;
            if !CACHES.contains(&name) {
                return None;
            }
            let active: u64 = words.next()?.parse().ok()?;
            let _total = words.next()?;
            let size: u64 = words.next()?.parse().ok()?;
            Some(active * size)
        })
        .sum()
}

/// Proportional set size in bytes; the resident set size where `smaps_rollup` is unavailable.
fn pss(pid: u32) -> u64 {
    let field = |file: &str, name: &str| {
        let text = std::fs::read_to_string(format!("/proc/{pid}/{file}")).ok()?;
        let line = text.lines().find(|l| l.starts_with(name))?;
        line.split_whitespace().nth(1)?.parse::<u64>().ok().map(|kib| kib * 1024)
    };
    field("smaps_rollup", "Pss:").or_else(|| field("status", "VmRSS:")).unwrap_or(0)
}

fn tcp_mem() -> u64 {
    let text = std::fs::read_to_string("/proc/net/sockstat").unwrap_or_default();
    let Some(tcp) = text.lines().find(|l| l.starts_with("TCP:")) else { return 0 };
    let words: Vec<&str> = tcp.split_whitespace().collect();
    words
        .windows(2)
        .find(|w| w[0] == "mem")
        .and_then(|w| w[1].parse::<u64>().ok())
        .map(|pages| pages * 4096)
        .unwrap_or(0)
}
