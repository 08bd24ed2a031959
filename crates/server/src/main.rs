//! `keel-server [config-file] [--name value ...]`: the same command line as redis-server.

use keel_server::config;
use keel_server::event_loop::EventLoop;
use keel_server::server::Server;

#[global_allocator]
static GLOBAL: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if matches!(args.first().map(String::as_str), Some("-v" | "--version")) {
        println!(
            "Keel server v={} (Redis {} compatible) bits=64 malloc=jemalloc",
            keel_server::KEEL_VERSION,
            keel_server::REDIS_VERSION
        );
        return;
    }
    if matches!(args.first().map(String::as_str), Some("-h" | "--help")) {
        println!("Usage: keel-server [/path/to/redis.conf] [options]\n       keel-server -v or --version\n       keel-server -h or --help\n\nExamples:\n       keel-server (run the server with default conf)\n       keel-server /etc/redis/6379.conf\n       keel-server --port 7777\n       keel-server /etc/myredis.conf --loglevel verbose");
        return;
    }
    let config = match config::from_args(&args) {
        Ok(c) => c,
        // An unreadable file is one log line in Redis; a bad line is the FATAL block on stderr.
        Err(config::FatalConfig::Open(msg)) => {
            keel_server::log::Logger::default().warning(&msg);
            std::process::exit(1);
        }
        Err(e) => {
            eprintln!("{e}");
            std::process::exit(1);
        }
    };
    let mut srv = Server::new(config);
    let pid = std::process::id();
    srv.log.warning("oO0OoO0OoO0Oo Keel is starting oO0OoO0OoO0Oo");
    srv.log.warning(&format!(
        "Keel version={}, redis_version={}, bits=64, pid={pid}, just started",
        keel_server::KEEL_VERSION,
        keel_server::REDIS_VERSION
    ));
    srv.log.warning("Configuration loaded");
    srv.log.role = 'M';
    let dir = srv.config.str(keel_server::config::P::Dir).to_string();
    if !dir.is_empty() {
        if let Err(e) = std::env::set_current_dir(&dir) {
            srv.log.warning(&format!("Can't chdir to '{dir}': {e}"));
            std::process::exit(1);
        }
    }
    let mut el = match EventLoop::bind(srv) {
        Ok(el) => el,
        Err(e) => {
            eprintln!("Failed listening: {e}");
            std::process::exit(1);
        }
    };
    el.srv.log.notice(&format!("Running mode=standalone, port={}. PID: {pid}", el.srv.port));
    let pidfile = el.srv.config.str(keel_server::config::P::Pidfile).to_string();
    if !pidfile.is_empty() {
        let _ = std::fs::write(&pidfile, format!("{pid}\n"));
    }
    keel_server::memory::startup_checks(&el.srv);
    el.srv.log.warning("Server initialized");
    // The listeners are bound: clients connecting during the load are served by the
    // loaders (`-LOADING`), in the event loop's client table.
    if el.srv.config.bool(keel_server::config::P::Appendonly) {
        if let Err(e) = keel_server::aof::load::start(&mut el.srv, &mut el.clients) {
            el.srv.log.warning(&e);
            std::process::exit(1);
        }
    }
    if let Err(e) = keel_server::rdb::save::load_at_startup(&mut el.srv, &mut el.clients) {
        el.srv.log.warning(&format!("Fatal error loading the DB: {e}. Exiting."));
        std::process::exit(1);
    }
    el.srv.log.notice("Ready to accept connections tcp");
    let code = el.run();
    std::process::exit(code);
}
