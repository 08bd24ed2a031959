//! Lua scripting: the script cache (SHA1 → compiled function) and the VM that runs EVAL.
//!
//! The VM is built on first use and dropped by `SCRIPT FLUSH`, like Redis, which resets its
//! Lua state on flush. While a script runs, the VM is taken out of [`Scripting`] so that the
//! `redis.call` bridge can lend `&mut Server` to the commands it runs.

pub mod bit;
pub mod cjson;
pub mod cmsgpack;
pub mod lua;
pub mod struct_lib;

use bytes::Bytes;
use mlua::Function;
use std::collections::HashMap;

/// A VM with the scripts compiled into it.
pub struct Loaded {
    /// The Lua state and its helpers.
    pub vm: lua::Vm,
    /// Compiled scripts by lowercase SHA1 hex.
    pub scripts: HashMap<String, Function>,
}

/// Scripting state owned by the server.
#[derive(Default)]
pub struct Scripting {
    /// The VM, absent until first use, after SCRIPT FLUSH, and while a script runs.
    loaded: Option<Loaded>,
}

impl Scripting {
    /// Takes the VM out (building it if needed) for the duration of one script.
    pub fn take(&mut self) -> mlua::Result<Loaded> {
        match self.loaded.take() {
            Some(l) => Ok(l),
            None => Ok(Loaded { vm: lua::Vm::new()?, scripts: HashMap::new() }),
        }
    }

    /// Gives the VM back after a script (or a SCRIPT LOAD).
    pub fn put_back(&mut self, loaded: Loaded) {
        self.loaded = Some(loaded);
    }

    /// True if a script with this SHA1 (any letter case) is cached.
    pub fn exists(&self, sha: &[u8]) -> bool {
        let Ok(sha) = std::str::from_utf8(sha) else {
            return false;
        };
        self.loaded.as_ref().is_some_and(|l| l.scripts.contains_key(&sha.to_ascii_lowercase()))
    }

    /// Forgets every script and the VM.
    pub fn flush(&mut self) {
        self.loaded = None;
    }
}

impl Loaded {
    /// Compiles and caches `body` unless already cached; returns its SHA1 and function, or
    /// the `ERR Error compiling script` reply text.
    pub fn load(&mut self, body: &Bytes) -> Result<(String, Function), Vec<u8>> {
        let sha = sha1_hex(body);
        if let Some(f) = self.scripts.get(&sha) {
            return Ok((sha, f.clone()));
        }
        let f = self.vm.compile(body).map_err(|msg| {
            format!("ERR Error compiling script (new function): {msg}").into_bytes()
        })?;
        self.scripts.insert(sha.clone(), f.clone());
        Ok((sha, f))
    }
}

/// Lowercase hex SHA1 of `data`, as script ids and `redis.sha1hex` print it.
pub fn sha1_hex(data: &[u8]) -> String {
    sha1_smol::Sha1::from(data).digest().to_string()
}
