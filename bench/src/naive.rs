//! The naive HTTP ceiling: the straightforward server anyone would write first. It parses
//! the JSON body and awaits one JetStream publish ack per request on a shared client, with
//! no checks at all. The agent is measured against it in the same run.

use std::sync::Arc;

use async_nats::jetstream::{self, message::PublishMessage};
use bytes::Bytes;
use warp::Filter;

/// Serves `POST /events` on `listen`, publishing to `subject` until the process ends.
pub async fn serve(nats_url: &str, listen: &str, subject: String) -> anyhow::Result<()> {
    let client = async_nats::connect(nats_url).await?;
    let js = Arc::new(jetstream::new(client));
    let subject = Arc::new(subject);
    let route = warp::path!("events")
        .and(warp::post())
        .and(warp::body::bytes())
        .then(move |body: Bytes| {
            let js = Arc::clone(&js);
            let subject = Arc::clone(&subject);
            async move {
                let status = match serde_json::from_slice::<serde_json::Value>(&body) {
                    Err(_) => 400,
                    Ok(_) => {
                        let message = PublishMessage::build()
                            .payload(body)
                            .message_id(uuid::Uuid::now_v7().to_string());
                        match js.send_publish(subject.as_str().to_owned(), message).await {
                            Ok(ack) => match ack.await {
                                Ok(_) => 202,
                                Err(_) => 503,
                            },
                            Err(_) => 503,
                        }
                    }
                };
                warp::reply::with_status(
                    "{}",
                    warp::http::StatusCode::from_u16(status)
                        .unwrap_or(warp::http::StatusCode::INTERNAL_SERVER_ERROR),
                )
            }
        });
    let listener = tokio::net::TcpListener::bind(listen).await?;
    warp::serve(route).incoming(listener).run().await;
    Ok(())
}
