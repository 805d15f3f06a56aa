//! A few connections kept open for reuse, each with its prepared
//! statements. `postgres::Client` needs `&mut`; the store is shared between
//! threads, so each operation takes a connection of its own (opening one
//! if none is idle): threads then work on the server in parallel.

use std::collections::HashMap;
use std::sync::Mutex;

use iteration_history::Result;
use postgres::{Client, Statement};

use crate::errors;
use crate::url::StoreUrl;

/// Idle connections kept per store.
const MAX_IDLE: usize = 8;

pub(crate) struct Conn {
    pub(crate) client: Client,
    stmts: HashMap<&'static str, Statement>,
    /// Taken from the idle list (it may have gone stale since).
    pub(crate) reused: bool,
}

impl Conn {
    /// Prepares `sql` once per connection.
    pub(crate) fn prepare(&mut self, sql: &'static str) -> Result<Statement, postgres::Error> {
        if let Some(s) = self.stmts.get(sql) {
            return Ok(s.clone());
        }
        let s = self.client.prepare(sql)?;
        self.stmts.insert(sql, s.clone());
        Ok(s)
    }
}

pub(crate) struct Pool {
    url: StoreUrl,
    idle: Mutex<Vec<Conn>>,
}

impl Pool {
    pub(crate) fn new(url: StoreUrl) -> Pool {
        Pool { url, idle: Mutex::new(Vec::new()) }
    }

    fn idle(&self) -> std::sync::MutexGuard<'_, Vec<Conn>> {
        self.idle.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Opens a new connection.
    ///
    /// # Errors
    /// A clear error for a refused connection, a wrong password, a missing
    /// database (see [`errors::connect`]).
    pub(crate) fn connect(&self) -> Result<Conn> {
        let mut client =
            self.url.config.connect(self.url.connector.clone()).map_err(|e| errors::connect(&self.url, &e))?;
        // `ih_append` reads the history after taking its lock: it needs a
        // fresh snapshot per statement, whatever the server's default.
        client
            .batch_execute("SET SESSION CHARACTERISTICS AS TRANSACTION ISOLATION LEVEL READ COMMITTED")
            .map_err(|e| errors::query(&self.url, "setting up the connection", &e, false))?;
        Ok(Conn { client, stmts: HashMap::new(), reused: false })
    }

    /// An idle connection, or a new one.
    pub(crate) fn get(&self) -> Result<Conn> {
        loop {
            let Some(mut c) = self.idle().pop() else { break };
            if !c.client.is_closed() {
                c.reused = true;
                return Ok(c);
            }
        }
        self.connect()
    }

    /// Gives a connection back for reuse (dropped if broken or too many).
    pub(crate) fn put(&self, c: Conn) {
        if c.client.is_closed() {
            return;
        }
        let mut idle = self.idle();
        if idle.len() < MAX_IDLE {
            idle.push(c);
        }
    }
}
