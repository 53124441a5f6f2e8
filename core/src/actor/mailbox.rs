//! The actor's mailbox: the channels it reads, and how their messages become turns.
//!
//! A turn takes everything waiting, up to [`MAX_TURN_MESSAGES`] messages. Every turn ends in a
//! commit, so with many small files the number of turns is what the actor's CPU goes to
//! (`many_small_puts`, measured when every commit waited for an fsync: ~1,100 turns for
//! 10,000 files, a third of the actor's CPU in commits). While attempts claimed ahead wait at the
//! request gates (`actor/claim_ahead.rs`), nothing waits for the actor: an ending request
//! hands its slot to a waiting attempt without it. Then the actor may gather more
//! finished attempts into the turn, until only the reserve is left waiting: what must
//! outlast the turn (`ClaimDepth` in `actor/claim_ahead.rs`; `many_small_puts`: ~430
//! turns).
//!
//! It must never delay anything else: a command, an OS report or a checkpoint ends the
//! gathering at once, and no gathering lasts longer than [`GATHER_AT_MOST`].
//!
//! Within a turn, checkpoints are applied first. A resumable attempt sends its last
//! checkpoint before its outcome, on another channel; applied after the outcome, it would
//! be dropped as the report of an attempt that ended, and the store (and the attempt's
//! progress, `actor/attempt_charge.rs`) would miss the offset the server confirmed last.

use std::time::Duration;

use tokio::sync::mpsc;
use tokio::time::Instant;

use super::message::{AttemptFinished, Command, Message};
use crate::http::Checkpoint;
use crate::platform::PlatformReport;

/// The most messages one turn takes, bounding the time between commits.
pub(super) const MAX_TURN_MESSAGES: usize = 1024;
/// The longest a turn waits for more attempts to finish.
const GATHER_AT_MOST: Duration = Duration::from_millis(2);

pub(super) struct Mailbox {
    pub commands: mpsc::Receiver<Command>,
    pub finished: mpsc::UnboundedReceiver<AttemptFinished>,
    pub platform_reports: mpsc::UnboundedReceiver<PlatformReport>,
    pub checkpoints: mpsc::UnboundedReceiver<Checkpoint>,
}

impl Mailbox {
    /// Waits for the first message (or a tick at `wake`), then takes whatever else is
    /// already waiting. Every command handle gone reads as a shutdown.
    pub(super) async fn next_turn(&mut self, wake: Option<Instant>) -> Vec<Message> {
        let first = tokio::select! {
            biased;
            Some(finished) = self.finished.recv() => Message::Finished(finished),
            Some(report) = self.platform_reports.recv() => Message::Platform(report),
            Some(checkpoint) = self.checkpoints.recv() => Message::Checkpoint(checkpoint),
            command = self.commands.recv() => Message::Command(
                command.unwrap_or(Command::Shutdown { reply: None }),
            ),
            () = sleep_until(wake) => Message::Tick,
        };
        let mut messages = vec![first];
        self.take_into(&mut messages);
        messages
    }

    /// Whatever is waiting, without waiting (possibly nothing): the turns that carry on a
    /// bulk call (`actor/bulk.rs`) come at once.
    pub(super) fn take_waiting(&mut self) -> Vec<Message> {
        let mut messages = Vec::new();
        self.take_into(&mut messages);
        messages
    }

    fn take_into(&mut self, messages: &mut Vec<Message>) {
        while messages.len() < MAX_TURN_MESSAGES {
            if let Ok(finished) = self.finished.try_recv() {
                messages.push(Message::Finished(finished));
            } else if let Ok(report) = self.platform_reports.try_recv() {
                messages.push(Message::Platform(report));
            } else if let Ok(checkpoint) = self.checkpoints.try_recv() {
                messages.push(Message::Checkpoint(checkpoint));
            } else if let Ok(command) = self.commands.try_recv() {
                messages.push(Message::Command(command));
            } else {
                break;
            }
        }
        checkpoints_first(messages);
    }

    /// Adds up to `more` finished attempts to `messages`, as they finish. Stops early at any
    /// other message (which joins the turn) or after [`GATHER_AT_MOST`]. Checkpoints sent
    /// before the attempts gathered join the turn too.
    pub(super) async fn gather_finished(&mut self, messages: &mut Vec<Message>, more: usize) {
        self.gather_until_other(messages, more).await;
        while let Ok(checkpoint) = self.checkpoints.try_recv() {
            messages.push(Message::Checkpoint(checkpoint));
        }
        checkpoints_first(messages);
    }

    async fn gather_until_other(&mut self, messages: &mut Vec<Message>, more: usize) {
        let deadline = Instant::now() + GATHER_AT_MOST;
        let mut gathered = 0;
        while gathered < more && messages.len() < MAX_TURN_MESSAGES {
            let message = tokio::select! {
                biased;
                Some(finished) = self.finished.recv() => Message::Finished(finished),
                Some(report) = self.platform_reports.recv() => Message::Platform(report),
                Some(checkpoint) = self.checkpoints.recv() => Message::Checkpoint(checkpoint),
                Some(command) = self.commands.recv() => Message::Command(command),
                () = tokio::time::sleep_until(deadline) => return,
            };
            let finished = matches!(message, Message::Finished(_));
            messages.push(message);
            if !finished {
                return;
            }
            gathered += 1;
        }
    }
}

/// Moves the checkpoints to the front of `messages`, keeping every other message's order.
/// Most turns carry none, and then nothing moves.
fn checkpoints_first(messages: &mut [Message]) {
    let is_checkpoint = |message: &Message| matches!(message, Message::Checkpoint(_));
    if messages
        .iter()
        .skip_while(|m| is_checkpoint(m))
        .any(is_checkpoint)
    {
        messages.sort_by_key(|message| !is_checkpoint(message));
    }
}

async fn sleep_until(wake: Option<Instant>) {
    match wake {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::TransferId;
    use crate::outcome::AttemptOutcome;

    struct Senders {
        commands: mpsc::Sender<Command>,
        finished: mpsc::UnboundedSender<AttemptFinished>,
        _platform_reports: mpsc::UnboundedSender<PlatformReport>,
        checkpoints: mpsc::UnboundedSender<Checkpoint>,
    }

    fn mailbox() -> (Mailbox, Senders) {
        let (commands, command_receiver) = mpsc::channel(16);
        let (finished, finished_receiver) = mpsc::unbounded_channel();
        let (platform_reports, report_receiver) = mpsc::unbounded_channel();
        let (checkpoints, checkpoint_receiver) = mpsc::unbounded_channel();
        let mailbox = Mailbox {
            commands: command_receiver,
            finished: finished_receiver,
            platform_reports: report_receiver,
            checkpoints: checkpoint_receiver,
        };
        let senders = Senders {
            commands,
            finished,
            _platform_reports: platform_reports,
            checkpoints,
        };
        (mailbox, senders)
    }

    fn finished(generation: u64) -> AttemptFinished {
        AttemptFinished {
            id: TransferId::from_stored(format!("attempt-{generation}")),
            generation,
            outcome: AttemptOutcome::Stalled,
            parts: Vec::new(),
            trouble: None,
        }
    }

    /// A mailbox whose first turn took one finished attempt.
    async fn after_one_finished() -> (Mailbox, Senders, Vec<Message>) {
        let (mut mailbox, senders) = mailbox();
        let _ = senders.finished.send(finished(0));
        let messages = mailbox.next_turn(None).await;
        (mailbox, senders, messages)
    }

    fn count_finished(messages: &[Message]) -> usize {
        messages
            .iter()
            .filter(|message| matches!(message, Message::Finished(_)))
            .count()
    }

    #[tokio::test(start_paused = true)]
    async fn a_turn_takes_everything_already_waiting() {
        let (mut mailbox, senders) = mailbox();
        for generation in 0..5 {
            let _ = senders.finished.send(finished(generation));
        }
        let messages = mailbox.next_turn(None).await;
        assert_eq!(count_finished(&messages), 5);
    }

    #[tokio::test(start_paused = true)]
    async fn gathering_takes_attempts_as_they_finish_but_no_more_than_asked() {
        let (mut mailbox, senders, mut messages) = after_one_finished().await;
        let finishing = tokio::spawn(async move {
            for generation in 1..=10 {
                tokio::task::yield_now().await;
                let _ = senders.finished.send(finished(generation));
            }
            senders
        });
        mailbox.gather_finished(&mut messages, 4).await;
        assert_eq!(count_finished(&messages), 5, "the first, then 4 gathered");
        let senders = finishing.await.expect("the sender task");
        drop(senders);
        let rest = mailbox.next_turn(None).await;
        assert_eq!(
            count_finished(&rest),
            6,
            "the others wait for the next turn"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_command_ends_the_gathering_at_once() {
        let (mut mailbox, senders, mut messages) = after_one_finished().await;
        let started = Instant::now();
        let _ = senders.commands.try_send(Command::Shutdown { reply: None });
        mailbox.gather_finished(&mut messages, 100).await;
        assert_eq!(messages.len(), 2);
        assert!(matches!(messages.last(), Some(Message::Command(_))));
        assert_eq!(started.elapsed(), Duration::ZERO, "nothing waited for more");
    }

    #[tokio::test(start_paused = true)]
    async fn gathering_gives_up_after_its_time_limit() {
        let (mut mailbox, senders, mut messages) = after_one_finished().await;
        let started = Instant::now();
        mailbox.gather_finished(&mut messages, 100).await;
        assert_eq!(messages.len(), 1);
        let waited = started.elapsed();
        assert!(
            (GATHER_AT_MOST..GATHER_AT_MOST + Duration::from_millis(2)).contains(&waited),
            "gathered for {waited:?} of virtual time"
        );
        drop(senders);
    }

    fn checkpoint(generation: u64) -> Checkpoint {
        Checkpoint {
            id: TransferId::from_stored(format!("attempt-{generation}")),
            generation,
            record: crate::http::Saved::Upload(crate::upload_resource::UploadResource {
                protocol: crate::ResumableProtocol::Tus,
                upload_url: "http://127.0.0.1:1/files/1".into(),
                confirmed_offset: 7,
            }),
            committed: None,
        }
    }

    fn kinds(messages: &[Message]) -> Vec<&'static str> {
        messages
            .iter()
            .map(|message| match message {
                Message::Checkpoint(_) => "checkpoint",
                Message::Finished(_) => "finished",
                _ => "other",
            })
            .collect()
    }

    #[tokio::test(start_paused = true)]
    async fn an_attempts_last_checkpoint_is_applied_before_its_outcome() {
        let (mut mailbox, senders) = mailbox();
        let _ = senders.checkpoints.send(checkpoint(1));
        let _ = senders.finished.send(finished(1));
        let _ = senders.finished.send(finished(2));
        let messages = mailbox.next_turn(None).await;
        assert_eq!(kinds(&messages), ["checkpoint", "finished", "finished"]);

        // Also when the outcome is gathered after the turn began.
        let _ = senders.finished.send(finished(3));
        let mut messages = mailbox.next_turn(None).await;
        let _ = senders.checkpoints.send(checkpoint(4));
        let _ = senders.finished.send(finished(4));
        mailbox.gather_finished(&mut messages, 1).await;
        assert_eq!(kinds(&messages), ["checkpoint", "finished", "finished"]);
    }
}
