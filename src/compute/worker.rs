//! The loop each timely worker runs: apply commands from the coordinator (in
//! the same order on every worker), step the dataflows, answer peeks whose
//! timestamp has become complete, and stream subscribe updates.

use std::collections::BTreeMap;
use std::sync::mpsc::Receiver;
use std::time::Duration;

use differential_dataflow::input::Input;
use differential_dataflow::trace::TraceReader;
use differential_dataflow::trace::cursor::{Cursor, cursor_list};
use timely::dataflow::operators::probe::Handle as ProbeHandle;
use timely::progress::Antichain;
use tokio::sync::mpsc::UnboundedSender;

use crate::expr::{EvalError, GlobalId, RelationExpr, ScalarExpr};
use crate::repr::{Diff, Row, Timestamp};

use super::accumulate::{read_accumulated, render_accumulated};
use super::input::{InputReads, InputState, ReaderOwner};
use super::progress::Progress;
use super::render::{ArrangedRows, ArrangedTraces, ErrTrace, Imports, RowTrace, render};

/// One worker's share of a peek: rows and errors with their
/// multiplicities. A row or an error can be in several workers' shares
/// (an input's writes may reach it through different workers); the
/// controller adds the shares up.
#[derive(Debug, Default)]
pub struct PeekShard {
    /// Rows and their multiplicities.
    pub rows: Vec<(Row, Diff)>,
    /// Errors and their multiplicities.
    pub errors: Vec<(EvalError, Diff)>,
}

/// The result of a peek on one worker (an error when the collection is
/// not there).
pub type PeekResult = Result<PeekShard, EvalError>;

/// A batch of subscribe output from one worker: updates at times before
/// `upper`, and the worker's new frontier.
#[derive(Debug)]
pub struct WorkerSubscribeBatch {
    /// The worker that sends it.
    pub worker: usize,
    /// Updates `(row, time, diff)`, or the error that ended the subscribe.
    pub updates: Result<Vec<(Row, Timestamp, Diff)>, EvalError>,
    /// The worker's frontier: no later batch has updates before it. `None`
    /// when the collection is complete (its frontier is empty).
    pub upper: Option<Timestamp>,
}

/// A command from the coordinator. Every worker receives every command in
/// the same order, so they build the same dataflows.
#[derive(Clone)]
pub enum Command {
    /// Create an input collection (a table, or a source's output).
    CreateInput {
        /// Its id.
        id: GlobalId,
    },
    /// Apply updates at `ts`, then advance every input to `ts + 1`.
    Write {
        /// The updates (applied by worker `worker` only; the controller
        /// sends the other workers an empty list, and the timestamp).
        updates: Vec<(GlobalId, Row, Diff)>,
        /// Errors to add to (or remove from) inputs' error collections
        /// (a source's undecodable records).
        errors: Vec<(GlobalId, EvalError, Diff)>,
        /// The timestamp.
        ts: Timestamp,
        /// The worker that applies the updates (modulo the number of
        /// workers): a Kafka source's reader `i` feeds worker `i`, other
        /// writes use worker 0. Arrangements exchange rows by key, so
        /// which worker feeds an input changes only where the work is done.
        worker: usize,
    },
    /// Render a dataflow and arrange its output as `id`.
    CreateDataflow {
        /// The id of the output arrangement.
        id: GlobalId,
        /// The plan.
        plan: RelationExpr,
        /// Index key expressions; `None` arranges by the whole row.
        key: Option<Vec<ScalarExpr>>,
        /// The relations the plan reads that only ever grow (the
        /// coordinator knows them from the catalog), so that operators
        /// over them may keep less state ([`super::monotonic`]).
        append_only: std::collections::BTreeSet<GlobalId>,
        /// The time its inputs are read as of (a transaction's snapshot,
        /// for a transient dataflow); `None`: the last write's.
        as_of: Option<Timestamp>,
    },
    /// Hold back compaction (of arrangements, and of inputs' contents,
    /// whose later updates are kept) so that reads at `ts` stay possible,
    /// for `holder` (an open transaction); `ts: None` releases the hold.
    /// Sent under the lock that chose `ts`, before any later write.
    ReadHold {
        /// Who holds (one hold each).
        holder: u64,
        /// The time it reads at, or `None` to release.
        ts: Option<Timestamp>,
    },
    /// Read the arrangement `id` at `ts`, once `ts` is complete.
    Peek {
        /// The arrangement.
        id: GlobalId,
        /// The read timestamp.
        ts: Timestamp,
        /// A key to look up (in an index), instead of a full scan.
        key: Option<Row>,
        /// Where to reply, tagged with the worker index.
        reply: UnboundedSender<(usize, PeekResult)>,
    },
    /// Stream the changes of arrangement `id` from `as_of` on.
    Subscribe {
        /// The subscribe's id (used to drop it).
        subscribe_id: u64,
        /// The arrangement.
        id: GlobalId,
        /// The first timestamp reported; earlier updates are reported at it
        /// (or not at all, without a snapshot).
        as_of: Timestamp,
        /// Whether to report the contents at `as_of`.
        snapshot: bool,
        /// Where updates go.
        reply: UnboundedSender<WorkerSubscribeBatch>,
    },
    /// Stop a subscribe.
    DropSubscribe {
        /// The subscribe's id.
        subscribe_id: u64,
    },
    /// Drop a collection (input or dataflow) and release its memory.
    Drop {
        /// Its id.
        id: GlobalId,
    },
    /// Stop the worker.
    Shutdown,
}

struct Installed {
    traces: ArrangedTraces,
    dataflow: usize,
}

struct PendingPeek {
    id: GlobalId,
    ts: Timestamp,
    key: Option<Row>,
    reply: UnboundedSender<(usize, PeekResult)>,
}

/// Updates a subscribe's dataflow has produced and not yet sent.
type SubscribeBuffer =
    std::rc::Rc<std::cell::RefCell<Vec<(Result<Row, EvalError>, Timestamp, Diff)>>>;

struct ActiveSubscribe {
    dataflow: usize,
    probe: ProbeHandle<Timestamp>,
    buffer: SubscribeBuffer,
    as_of: Timestamp,
    snapshot: bool,
    reported: Option<Option<Timestamp>>,
    reply: UnboundedSender<WorkerSubscribeBatch>,
}

/// Runs one timely worker until `Shutdown` or the coordinator goes away,
/// publishing its frontier to `progress` as it advances.
pub fn run_worker(
    timely: &mut timely::worker::Worker,
    commands: Receiver<Command>,
    progress: &Progress,
) {
    let index = timely.index();
    let mut inputs: BTreeMap<GlobalId, InputState> = BTreeMap::new();
    let mut installed: BTreeMap<GlobalId, Installed> = BTreeMap::new();
    let mut peeks: Vec<PendingPeek> = Vec::new();
    let mut subscribes: BTreeMap<u64, ActiveSubscribe> = BTreeMap::new();
    // The time every input is at: updates happen here.
    let mut now: Timestamp = 0;
    let mut since: Timestamp = 0;
    let mut published: Timestamp = 0;
    // The read holds of open transactions: holder → the time it reads at.
    let mut holds: BTreeMap<u64, Timestamp> = BTreeMap::new();

    loop {
        // Apply every queued command.
        loop {
            let command = match commands.try_recv() {
                Ok(c) => c,
                Err(std::sync::mpsc::TryRecvError::Empty) => break,
                Err(std::sync::mpsc::TryRecvError::Disconnected) => return,
            };
            match command {
                Command::Shutdown => return,
                Command::CreateInput { id } => {
                    inputs.insert(id, InputState::default());
                }
                Command::Write {
                    updates,
                    errors,
                    ts,
                    worker: _,
                } => {
                    for r in inputs.values_mut().flat_map(|i| i.readers.iter_mut()) {
                        r.advance_to(ts.max(now));
                    }
                    // The time the readers take the updates at.
                    let time = ts.max(now);
                    let keep_history = !holds.is_empty();
                    for (id, row, diff) in updates {
                        if let Some(input) = inputs.get_mut(&id) {
                            input.update_row(row, time, diff, keep_history);
                        }
                    }
                    for (id, err, diff) in errors {
                        if let Some(input) = inputs.get_mut(&id) {
                            input.update_err(err, time, diff, keep_history);
                        }
                    }
                    now = now.max(ts + 1);
                    for r in inputs.values_mut().flat_map(|i| i.readers.iter_mut()) {
                        r.advance_to(now);
                        r.flush();
                    }
                }
                Command::CreateDataflow {
                    id,
                    plan,
                    key,
                    append_only,
                    as_of,
                } => {
                    // At most the inputs' time, and no earlier than what
                    // the arrangements it imports still distinguish.
                    let as_of = as_of
                        .map_or(now.saturating_sub(1), |t| t.min(now.saturating_sub(1)))
                        .max(since);
                    let mut arranged = BTreeMap::new();
                    let mut deps = Vec::new();
                    plan.depends_on(&mut deps);
                    for dep in deps {
                        if let Some(i) = installed.get(&dep) {
                            arranged.insert(dep, i.traces.clone());
                        }
                    }
                    let mut imports = Imports {
                        arranged,
                        inputs: InputReads {
                            inputs: &inputs,
                            as_of,
                            now,
                            owner: ReaderOwner::Dataflow(id),
                            created: Vec::new(),
                        },
                        // The output is arranged, which consolidates.
                        consolidate_accumulated: false,
                        append_only,
                    };
                    let dataflow = timely.next_dataflow_index();
                    let key_for_dataflow = key.clone();
                    let traces = timely.dataflow::<Timestamp, _, _>(|scope| {
                        // A view that is an accumulable GROUP BY keeps its
                        // accumulators as its arrangement.
                        let accumulated = match key_for_dataflow {
                            None => render_accumulated(scope, &plan, &mut imports),
                            Some(_) => None,
                        };
                        let rendered = match accumulated {
                            Some(Ok(acc)) => {
                                let key_arity = match &plan {
                                    RelationExpr::Reduce { group_key, .. } => group_key.len(),
                                    _ => 0,
                                };
                                return ArrangedTraces {
                                    oks: ArrangedRows::Accumulated {
                                        trace: acc.accums.arrange_by_self().trace,
                                        slots: acc.slots,
                                        key_arity,
                                    },
                                    errs: acc.errs.map(|e| (e, ())).arrange_by_key().trace,
                                    key: None,
                                };
                            }
                            Some(Err(message)) => Err(message),
                            None => render(scope, &plan, &mut imports),
                        };
                        let (oks, errs) = match rendered {
                            Ok(c) => c,
                            Err(message) => {
                                // The coordinator only sends plans over installed
                                // collections; report the bug through the view.
                                let err = EvalError::Internal(message);
                                let (mut input, errs) = scope.new_collection::<EvalError, Diff>();
                                if index == 0 {
                                    input.update(err, 1);
                                }
                                drop(input);
                                let (rows_input, rows) = scope.new_collection::<Row, Diff>();
                                drop(rows_input);
                                (rows, errs)
                            }
                        };
                        let (oks, errs) = match key_for_dataflow {
                            None => (oks.map(|r| (r, Row::empty())), errs),
                            Some(key) => {
                                let keyed = oks.map(move |r| {
                                    let datums = r.unpack();
                                    let k = key
                                        .iter()
                                        .map(|e| e.eval(&datums))
                                        .collect::<Result<Row, _>>()?;
                                    Ok::<_, EvalError>((k.into_key(), r))
                                });
                                let (keyed, key_errs) =
                                    crate::compute::render::split_results(keyed);
                                (keyed, errs.concat(key_errs))
                            }
                        };
                        let oks = oks.arrange_by_key();
                        let errs = errs.map(|e| (e, ())).arrange_by_key();
                        ArrangedTraces {
                            oks: ArrangedRows::Rows(oks.trace),
                            errs: errs.trace,
                            key,
                        }
                    });
                    let created = std::mem::take(&mut imports.inputs.created);
                    drop(imports);
                    register_readers(&mut inputs, created);
                    installed.insert(id, Installed { traces, dataflow });
                }
                Command::Peek { id, ts, key, reply } => {
                    match inputs.get(&id) {
                        // Every write sent before this peek has been applied,
                        // and none after it.
                        Some(input) => {
                            let _ = reply.send((index, Ok(input.read_at(ts))));
                        }
                        None => peeks.push(PendingPeek { id, ts, key, reply }),
                    }
                }
                Command::Subscribe {
                    subscribe_id,
                    id,
                    as_of,
                    snapshot,
                    reply,
                } => {
                    if !installed.contains_key(&id) && !inputs.contains_key(&id) {
                        let _ = reply.send(WorkerSubscribeBatch {
                            worker: index,
                            updates: Err(EvalError::Internal(format!("{id} is not installed"))),
                            upper: None,
                        });
                        continue;
                    }
                    let mut imports = Imports {
                        arranged: installed
                            .get(&id)
                            .map(|t| (id, t.traces.clone()))
                            .into_iter()
                            .collect(),
                        inputs: InputReads {
                            inputs: &inputs,
                            as_of: now.saturating_sub(1),
                            now,
                            owner: ReaderOwner::Subscribe(subscribe_id),
                            created: Vec::new(),
                        },
                        consolidate_accumulated: true,
                        append_only: Default::default(),
                    };
                    let buffer = std::rc::Rc::new(std::cell::RefCell::new(Vec::new()));
                    let sink = buffer.clone();
                    let err_sink = buffer.clone();
                    let dataflow = timely.next_dataflow_index();
                    let get = RelationExpr::Get {
                        id,
                        name: id.to_string(),
                    };
                    let probe = timely.dataflow::<Timestamp, _, _>(|scope| {
                        // Checked above: the collection exists.
                        let (oks, errs) = render(scope, &get, &mut imports).ok()?;
                        let errs = errs.inspect(move |(e, t, d)| {
                            err_sink.borrow_mut().push((Err(e.clone()), *t, *d));
                        });
                        let oks = oks.inspect(move |(r, t, d)| {
                            sink.borrow_mut().push((Ok(r.clone()), *t, *d));
                        });
                        let (probe, _) = oks
                            .concat(errs.map(|_| Row::empty()).filter(|_| false))
                            .probe();
                        Some(probe)
                    });
                    let created = std::mem::take(&mut imports.inputs.created);
                    drop(imports);
                    register_readers(&mut inputs, created);
                    let Some(probe) = probe else {
                        timely.drop_dataflow(dataflow);
                        continue;
                    };
                    subscribes.insert(
                        subscribe_id,
                        ActiveSubscribe {
                            dataflow,
                            probe,
                            buffer,
                            as_of,
                            snapshot,
                            reported: None,
                            reply,
                        },
                    );
                }
                Command::DropSubscribe { subscribe_id } => {
                    if let Some(s) = subscribes.remove(&subscribe_id) {
                        drop_readers(&mut inputs, ReaderOwner::Subscribe(subscribe_id));
                        timely.drop_dataflow(s.dataflow);
                    }
                }
                Command::ReadHold { holder, ts } => {
                    match ts {
                        Some(ts) => holds.insert(holder, ts),
                        None => holds.remove(&holder),
                    };
                    let earliest = holds.values().min().copied();
                    for input in inputs.values_mut() {
                        input.history.forget_through(earliest);
                    }
                }
                Command::Drop { id } => {
                    inputs.remove(&id);
                    drop_readers(&mut inputs, ReaderOwner::Dataflow(id));
                    if let Some(i) = installed.remove(&id) {
                        drop(i.traces);
                        timely.drop_dataflow(i.dataflow);
                    }
                }
            }
        }

        // Allow compaction up to the earliest time anyone may still read.
        let mut new_since = now.saturating_sub(1);
        for p in &peeks {
            new_since = new_since.min(p.ts);
        }
        // Transactions read at their snapshot's time until they end.
        for ts in holds.values() {
            new_since = new_since.min(*ts);
        }
        // Subscribes need no hold: their dataflows imported the traces when
        // created (at an `as_of` no earlier than `since`), and an imported
        // trace keeps what its dataflow has yet to read.
        if new_since > since {
            since = new_since;
            let frontier = Antichain::from_elem(since);
            for i in installed.values_mut() {
                match &mut i.traces.oks {
                    ArrangedRows::Rows(t) => t.set_logical_compaction(frontier.borrow()),
                    ArrangedRows::Accumulated { trace, .. } => {
                        trace.set_logical_compaction(frontier.borrow())
                    }
                }
                i.traces.errs.set_logical_compaction(frontier.borrow());
            }
        }
        // Physical compaction may not pass a trace's upper (a dataflow that
        // lags behind its inputs), or reads through that upper fail.
        for i in installed.values_mut() {
            match &mut i.traces.oks {
                ArrangedRows::Rows(t) => {
                    let physical = physical_frontier(t, since);
                    t.set_physical_compaction(physical.borrow());
                }
                ArrangedRows::Accumulated { trace, .. } => {
                    let physical = physical_frontier(trace, since);
                    trace.set_physical_compaction(physical.borrow());
                }
            }
            let physical = physical_frontier(&mut i.traces.errs, since);
            i.traces.errs.set_physical_compaction(physical.borrow());
        }

        // Answer the peeks whose timestamp is complete.
        peeks.retain_mut(|peek| {
            let Some(target) = installed.get_mut(&peek.id) else {
                let _ = peek.reply.send((
                    index,
                    Err(EvalError::Internal(format!("{} is not installed", peek.id))),
                ));
                return false;
            };
            let oks_complete = match &mut target.traces.oks {
                ArrangedRows::Rows(t) => is_complete(t, peek.ts),
                ArrangedRows::Accumulated { trace, .. } => is_complete(trace, peek.ts),
            };
            if !oks_complete || !is_complete(&mut target.traces.errs, peek.ts) {
                return true;
            }
            let rows = read_errors(&mut target.traces.errs, peek.ts).and_then(|()| {
                let key_is_row = target.traces.key.is_none();
                match &mut target.traces.oks {
                    ArrangedRows::Rows(t) => {
                        Ok(read_rows(t, key_is_row, peek.ts, peek.key.as_ref()))
                    }
                    ArrangedRows::Accumulated {
                        trace,
                        slots,
                        key_arity,
                    } => read_accumulated(trace, slots, *key_arity, peek.ts, peek.key.as_ref()),
                }
            });
            let result = Ok(match rows {
                Err(e) => PeekShard {
                    rows: Vec::new(),
                    errors: vec![(e, 1)],
                },
                Ok(rows) => PeekShard {
                    rows,
                    errors: Vec::new(),
                },
            });
            let _ = peek.reply.send((index, result));
            false
        });

        // Stream subscribe updates that are complete.
        let mut ended = Vec::new();
        for (sid, s) in subscribes.iter_mut() {
            let upper = s.probe.with_frontier(|f| f.first().copied());
            if s.reported == Some(upper) {
                continue;
            }
            let mut buffer = s.buffer.borrow_mut();
            let mut ready = Vec::new();
            let mut error = None;
            buffer.retain(|(r, t, d)| {
                if upper.is_some_and(|u| *t >= u) {
                    return true;
                }
                let t = (*t).max(s.as_of);
                if !s.snapshot && t <= s.as_of {
                    return false;
                }
                match r {
                    Ok(row) => ready.push((row.clone(), t, *d)),
                    Err(e) if *d > 0 => error = Some(e.clone()),
                    Err(_) => {}
                }
                false
            });
            let updates = match error {
                Some(e) => Err(e),
                None => Ok(ready),
            };
            let failed = updates.is_err();
            let sent = s.reply.send(WorkerSubscribeBatch {
                worker: index,
                updates,
                upper,
            });
            s.reported = Some(upper);
            if sent.is_err() || failed {
                ended.push(*sid);
            }
        }
        for sid in ended {
            if let Some(s) = subscribes.remove(&sid) {
                drop_readers(&mut inputs, ReaderOwner::Subscribe(sid));
                timely.drop_dataflow(s.dataflow);
            }
        }

        // Tell the writers how far the dataflows have got (only when it
        // moved: a reader waiting for it is woken).
        let frontier = frontier(now, &mut installed, &subscribes);
        if frontier > published {
            published = frontier;
            progress.publish(index, frontier);
        }

        let wait = if peeks.is_empty() {
            Duration::from_millis(50)
        } else {
            Duration::from_millis(1)
        };
        timely.step_or_park(Some(wait));
    }
}

/// The worker's frontier: the least upper of its arrangements and
/// subscriptions, at most `now` (its inputs' time). Every update before it
/// has been processed.
fn frontier(
    now: Timestamp,
    installed: &mut BTreeMap<GlobalId, Installed>,
    subscribes: &BTreeMap<u64, ActiveSubscribe>,
) -> Timestamp {
    let mut least = now;
    let mut upper = Antichain::new();
    for i in installed.values_mut() {
        match &mut i.traces.oks {
            ArrangedRows::Rows(t) => t.read_upper(&mut upper),
            ArrangedRows::Accumulated { trace, .. } => trace.read_upper(&mut upper),
        }
        least = upper.first().map_or(least, |u| least.min(*u));
        i.traces.errs.read_upper(&mut upper);
        least = upper.first().map_or(least, |u| least.min(*u));
    }
    for s in subscribes.values() {
        least = s
            .probe
            .with_frontier(|f| f.first().map_or(least, |u| least.min(*u)));
    }
    least
}

/// Adds readers created by a new dataflow to their inputs.
fn register_readers(
    inputs: &mut BTreeMap<GlobalId, InputState>,
    created: Vec<super::input::InputReader>,
) {
    for reader in created {
        if let Some(input) = inputs.get_mut(&reader.id) {
            input.readers.push(reader);
        }
    }
}

/// Drops the readers that feed `owner`'s dataflow.
fn drop_readers(inputs: &mut BTreeMap<GlobalId, InputState>, owner: ReaderOwner) {
    for input in inputs.values_mut() {
        input.readers.retain(|r| r.owner != owner);
    }
}

/// `since`, held back to the trace's upper where that is earlier; never
/// behind the trace's current physical compaction.
fn physical_frontier<Tr: TraceReader<Time = Timestamp>>(
    trace: &mut Tr,
    since: Timestamp,
) -> Antichain<Timestamp> {
    let mut upper = Antichain::new();
    trace.read_upper(&mut upper);
    let target = match upper.first() {
        Some(u) if *u < since => *u,
        _ => since,
    };
    let current = trace
        .get_physical_compaction()
        .first()
        .copied()
        .unwrap_or(target);
    Antichain::from_elem(target.max(current))
}

fn is_complete<Tr: TraceReader<Time = Timestamp>>(trace: &mut Tr, ts: Timestamp) -> bool {
    let mut upper = Antichain::new();
    trace.read_upper(&mut upper);
    !upper.less_equal(&ts)
}

/// Returns the first error present at `ts`, if any.
fn read_errors(trace: &mut ErrTrace, ts: Timestamp) -> Result<(), EvalError> {
    let mut upper = Antichain::new();
    trace.read_upper(&mut upper);
    let Some(batches) = trace.batches_through(upper.borrow()) else {
        return Ok(());
    };
    let (mut cursor, storage) = cursor_list(batches);
    while cursor.key_valid(&storage) {
        let mut count: Diff = 0;
        while cursor.val_valid(&storage) {
            cursor.map_times(&storage, |t, d| {
                if *t <= ts {
                    count += *d;
                }
            });
            cursor.step_val(&storage);
        }
        if count > 0 {
            return Err(cursor.key(&storage).clone());
        }
        cursor.step_key(&storage);
    }
    Ok(())
}

/// Reads the rows present at `ts` (with a key, only that key's rows).
fn read_rows(
    trace: &mut RowTrace,
    key_is_row: bool,
    ts: Timestamp,
    key: Option<&Row>,
) -> Vec<(Row, Diff)> {
    let mut upper = Antichain::new();
    trace.read_upper(&mut upper);
    let Some(batches) = trace.batches_through(upper.borrow()) else {
        return Vec::new();
    };
    let (mut cursor, storage) = cursor_list(batches);
    let mut out = Vec::new();
    // An index's keys are keys; a trace keyed by the whole row holds data.
    let key = key.map(|k| {
        if key_is_row {
            k.clone().into_data()
        } else {
            k.clone().into_key()
        }
    });
    let key = key.as_ref();
    if let Some(k) = key {
        cursor.seek_key(&storage, k);
    }
    while cursor.key_valid(&storage) {
        let k: &Row = cursor.key(&storage);
        if let Some(want) = key
            && k != want
        {
            break;
        }
        while cursor.val_valid(&storage) {
            let mut count: Diff = 0;
            cursor.map_times(&storage, |t, d| {
                if *t <= ts {
                    count += *d;
                }
            });
            if count != 0 {
                let row = if key_is_row {
                    k.clone()
                } else {
                    cursor.val(&storage).clone()
                };
                out.push((row, count));
            }
            cursor.step_val(&storage);
        }
        cursor.step_key(&storage);
    }
    out
}
