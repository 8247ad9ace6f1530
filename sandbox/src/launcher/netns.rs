//! "No network": a network namespace of the launcher's own, whose only interface is a
//! loopback (brought up, so a program may still talk to a server it starts itself).

use std::os::fd::AsRawFd;

use nix::sched::{unshare, CloneFlags};
use nix::sys::socket::{
    self, AddressFamily, MsgFlags, NetlinkAddr, SockFlag, SockProtocol, SockType,
};
use nix::unistd::{getegid, geteuid};

/// Moves this process into a new network namespace with its loopback up. As root that is
/// one `unshare`; otherwise a user namespace comes first (mapping our ids to themselves).
pub(super) fn isolate() -> Result<(), String> {
    let (uid, gid) = (geteuid(), getegid());
    let direct = uid.is_root() && unshare(CloneFlags::CLONE_NEWNET).is_ok();
    if !direct {
        unshare(CloneFlags::CLONE_NEWUSER | CloneFlags::CLONE_NEWNET)
            .map_err(|e| format!("cannot create a network namespace: {e}"))?;
        let write = |file: &str, text: String| {
            std::fs::write(format!("/proc/self/{file}"), text)
                .map_err(|e| format!("cannot write /proc/self/{file}: {e}"))
        };
        // Absent before Linux 3.19; where it is there it must be written first.
        let _ = write("setgroups", "deny".into());
        write("uid_map", format!("{uid} {uid} 1"))?;
        write("gid_map", format!("{gid} {gid} 1"))?;
    }
    loopback_up()
}

/// Sets IFF_UP on interface 1 (the loopback, first in every namespace) over rtnetlink.
fn loopback_up() -> Result<(), String> {
    const RTM_NEWLINK: u16 = 16;
    const NLM_F_REQUEST_ACK: u16 = 1 | 4;
    const NLMSG_ERROR: u16 = 2;
    const IFF_UP: u32 = 1;
    let fd = socket::socket(
        AddressFamily::Netlink,
        SockType::Raw,
        SockFlag::SOCK_CLOEXEC,
        SockProtocol::NetlinkRoute,
    )
    .map_err(|e| format!("netlink: {e}"))?;
    let mut msg = Vec::with_capacity(32);
    msg.extend(32u32.to_ne_bytes()); // nlmsghdr: length
    msg.extend(RTM_NEWLINK.to_ne_bytes());
    msg.extend(NLM_F_REQUEST_ACK.to_ne_bytes());
    msg.extend(1u32.to_ne_bytes()); // sequence
    msg.extend(0u32.to_ne_bytes()); // port id: the kernel
    msg.extend([0u8, 0]); // ifinfomsg: family AF_UNSPEC, padding
    msg.extend(0u16.to_ne_bytes()); // device type
    msg.extend(1i32.to_ne_bytes()); // interface index
    msg.extend(IFF_UP.to_ne_bytes()); // flags
    msg.extend(IFF_UP.to_ne_bytes()); // change mask
    socket::sendto(
        fd.as_raw_fd(),
        &msg,
        &NetlinkAddr::new(0, 0),
        MsgFlags::empty(),
    )
    .map_err(|e| format!("netlink send: {e}"))?;
    let mut buf = [0u8; 512];
    let n = socket::recv(fd.as_raw_fd(), &mut buf, MsgFlags::empty())
        .map_err(|e| format!("netlink answer: {e}"))?;
    if n >= 20 && u16::from_ne_bytes([buf[4], buf[5]]) == NLMSG_ERROR {
        let errno = i32::from_ne_bytes([buf[16], buf[17], buf[18], buf[19]]);
        if errno != 0 {
            return Err(format!(
                "cannot bring up the loopback: {}",
                nix::errno::Errno::from_raw(-errno)
            ));
        }
    }
    Ok(())
}
