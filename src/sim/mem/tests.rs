use super::*;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

fn rt() -> (tokio::runtime::Runtime, tokio::task::LocalSet) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .start_paused(true)
        .build()
        .unwrap();
    (rt, tokio::task::LocalSet::new())
}

const MS: Duration = Duration::from_millis(1);

#[test]
fn bytes_take_one_hop_and_idle_time_costs_nothing() {
    let (rt, local) = rt();
    local.block_on(&rt, async {
        let w = World::new(MS);
        let l = w.bind("server", 80).unwrap();
        let t0 = Instant::now();
        let server = tokio::task::spawn_local(async move {
            let (mut s, peer) = l.accept().await.unwrap();
            assert_eq!(peer.ip(), IpAddr::V4(Ipv4Addr::new(192, 168, 0, 2)));
            let mut b = [0u8; 5];
            s.read_exact(&mut b).await.unwrap();
            let got = Instant::now() - t0;
            tokio::time::sleep(Duration::from_secs(3600)).await;
            s.write_all(b"world").await.unwrap();
            (b, got)
        });
        let _ = w.ip("server");
        let mut c = w.connect("client", "server", 80).await.unwrap();
        assert_eq!(Instant::now() - t0, MS, "one hop");
        c.write_all(b"hello").await.unwrap();
        let mut b = [0u8; 5];
        c.read_exact(&mut b).await.unwrap();
        assert_eq!(&b, b"world");
        let (sb, got) = server.await.unwrap();
        assert_eq!(&sb, b"hello");
        assert_eq!(got, 2 * MS);
        assert_eq!(Instant::now() - t0, Duration::from_secs(3600) + 3 * MS);
    });
}

#[test]
fn nothing_listening_is_refused_after_one_hop() {
    let (rt, local) = rt();
    local.block_on(&rt, async {
        let w = World::new(MS);
        let t0 = Instant::now();
        let e = w.connect("client", "server", 80).await.err().unwrap();
        assert_eq!(e.kind(), io::ErrorKind::ConnectionRefused);
        assert_eq!(Instant::now() - t0, MS);
    });
}

#[test]
fn fin_follows_the_data_and_reads_as_end_of_stream() {
    let (rt, local) = rt();
    local.block_on(&rt, async {
        let w = World::new(MS);
        let l = w.bind("server", 80).unwrap();
        tokio::task::spawn_local(async move {
            let (mut s, _) = l.accept().await.unwrap();
            s.write_all(b"bye").await.unwrap();
            drop(s);
        });
        let mut c = w.connect("client", "server", 80).await.unwrap();
        let mut all = Vec::new();
        c.read_to_end(&mut all).await.unwrap();
        assert_eq!(all, b"bye");
    });
}

#[test]
fn writing_to_a_closed_peer_fails_only_after_its_reset_returns() {
    let (rt, local) = rt();
    local.block_on(&rt, async {
        let w = World::new(MS);
        let l = w.bind("server", 80).unwrap();
        let c = w.connect("client", "server", 80).await.unwrap();
        let (s, _) = l.accept().await.unwrap();
        drop(c);
        tokio::time::sleep(MS).await;
        let (_r, mut sw) = s.into_split();
        sw.write_all(b"first")
            .await
            .expect("accepted: the RST is still on its way");
        assert!(sw.write_all(b"again").await.is_ok(), "same instant");
        tokio::time::sleep(2 * MS).await;
        let e = sw.write_all(b"late").await.unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::BrokenPipe);
    });
}

#[test]
fn a_writer_waits_while_a_window_is_unread_and_goes_on_when_it_is_read() {
    let (rt, local) = rt();
    local.block_on(&rt, async {
        let w = World::new(MS);
        let l = w.bind("server", 80).unwrap();
        let c = w.connect("client", "server", 80).await.unwrap();
        let (mut s, _) = l.accept().await.unwrap();
        let (_r, mut cw) = c.into_split();
        let chunk = vec![7u8; 64 * 1024];
        let writer = tokio::task::spawn_local(async move {
            let mut sent = 0usize;
            while sent < 4 * WINDOW {
                cw.write_all(&chunk).await.unwrap();
                sent += chunk.len();
            }
            sent
        });
        tokio::time::sleep(Duration::from_secs(10)).await;
        assert!(!writer.is_finished(), "held back: nothing was read");
        let mut got = 0usize;
        let mut buf = vec![0u8; 256 * 1024];
        while got < 4 * WINDOW {
            got += s.read(&mut buf).await.unwrap();
        }
        assert_eq!(writer.await.unwrap(), 4 * WINDOW);
    });
}

#[test]
fn a_second_bind_of_a_live_port_fails() {
    let w = World::new(MS);
    let _l = w.bind("server", 80).unwrap();
    assert_eq!(
        w.bind("server", 80).err().unwrap().kind(),
        io::ErrorKind::AddrInUse
    );
}
