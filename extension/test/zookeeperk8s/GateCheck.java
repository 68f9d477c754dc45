package zookeeperk8s;

import io.netty.buffer.ByteBuf;
import io.netty.buffer.Unpooled;
import io.netty.channel.Channel;
import io.netty.channel.embedded.EmbeddedChannel;
import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.lang.reflect.Constructor;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.SocketAddress;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.Set;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicReference;
import java.util.function.Function;
import java.util.function.Supplier;
import org.apache.jute.BinaryInputArchive;
import org.apache.jute.BinaryOutputArchive;
import org.apache.jute.Record;
import org.apache.zookeeper.AddWatchMode;
import org.apache.zookeeper.CreateMode;
import org.apache.zookeeper.MultiOperationRecord;
import org.apache.zookeeper.Op;
import org.apache.zookeeper.ZooDefs.OpCode;
import org.apache.zookeeper.ZooDefs.Perms;
import org.apache.zookeeper.data.ACL;
import org.apache.zookeeper.data.Id;
import org.apache.zookeeper.proto.AddWatchRequest;
import org.apache.zookeeper.proto.AuthPacket;
import org.apache.zookeeper.proto.CheckVersionRequest;
import org.apache.zookeeper.proto.CheckWatchesRequest;
import org.apache.zookeeper.proto.ConnectRequest;
import org.apache.zookeeper.proto.CreateRequest;
import org.apache.zookeeper.proto.CreateTTLRequest;
import org.apache.zookeeper.proto.DeleteRequest;
import org.apache.zookeeper.proto.ExistsRequest;
import org.apache.zookeeper.proto.GetACLRequest;
import org.apache.zookeeper.proto.GetAllChildrenNumberRequest;
import org.apache.zookeeper.proto.GetChildren2Request;
import org.apache.zookeeper.proto.GetChildrenRequest;
import org.apache.zookeeper.proto.GetDataRequest;
import org.apache.zookeeper.proto.GetEphemeralsRequest;
import org.apache.zookeeper.proto.GetSASLRequest;
import org.apache.zookeeper.proto.MultiHeader;
import org.apache.zookeeper.proto.RemoveWatchesRequest;
import org.apache.zookeeper.proto.RequestHeader;
import org.apache.zookeeper.proto.SetACLRequest;
import org.apache.zookeeper.proto.SetDataRequest;
import org.apache.zookeeper.proto.SetWatches;
import org.apache.zookeeper.proto.SetWatches2;
import org.apache.zookeeper.proto.SyncRequest;
import org.apache.zookeeper.server.NettyServerCnxn;
import org.apache.zookeeper.server.ZKDatabase;
import org.apache.zookeeper.server.ZooKeeperServer;
import org.apache.zookeeper.server.persistence.FileTxnSnapLog;

/**
 * Pure checks of the extension's decisions (no server, no network): request frames are built
 * as a client builds them, with ZooKeeper's own jute classes, handed to {@link Gate#filter}, and
 * what comes back is read with the same classes.
 *
 * <pre>
 * javac --release 17 -cp ZOOKEEPER_LIB_JARS:zookeeper-k8s-extension.jar -d CLASSES GateCheck.java
 * java -cp CLASSES:ZOOKEEPER_LIB_JARS:zookeeper-k8s-extension.jar zookeeperk8s.GateCheck
 * </pre>
 *
 * Prints {@code ok NAME} or {@code FAIL NAME: WHY} per check, exits 1 if any failed
 * (tests/live/test_extension_gate.py runs it).
 */
public final class GateCheck {

    static final String POLICY_PATH = "/zookeeper-k8s/policy";
    static final int XID = 4242;
    static final byte[] DATA = "payload".getBytes(StandardCharsets.UTF_8);

    static final Id SUPER = new Id("sasl", "super");
    static final Id A_SASL = new Id("sasl", "relation-7");
    static final Id A_DIGEST = new Id("digest", "relation-7:aDigestHash=");
    static final Id B_SASL = new Id("sasl", "relation-8");
    static final Id B_DIGEST = new Id("digest", "relation-8:bDigestHash=");
    static final Id R_SASL = new Id("sasl", "relation-9");
    static final Id OLD_SASL = new Id("sasl", "relation-6");
    static final Id IP = new Id("ip", "10.1.2.3");
    static final Id ANYONE = new Id("world", "anyone");
    static final Id AUTH = new Id("auth", "");

    /**
     * /app is A's, /app-b and /shared/b are B's, /readonly is granted read only, /gone is being
     * taken back (no owner), /old is still listed but its user (relation-6) is not any more.
     */
    static final String POLICY_TEXT = String.join("\n",
        Policy.HEADER,
        "user\trelation-7\tpassword-a",
        "user\trelation-8\tpassword-b",
        "user\trelation-9\tpassword-r",
        "chroot\t/app\tcdrw\tsasl:relation-7\tdigest:relation-7:aDigestHash=",
        "chroot\t/app-b\tcdrw\tsasl:relation-8\tdigest:relation-8:bDigestHash=",
        "chroot\t/shared/b\tcdrw\tsasl:relation-8\tdigest:relation-8:bDigestHash=",
        "chroot\t/readonly\tr\tsasl:relation-9",
        "chroot\t/old\tcdrw\tsasl:relation-6",
        "chroot\t/gone\t",
        "");
    static final Policy POLICY = Policy.parse(POLICY_TEXT.getBytes(StandardCharsets.UTF_8));
    static final Gate GATE = new Gate(() -> POLICY, Map.of(), List.of(SUPER), POLICY_PATH);

    // Sessions, as ServerCnxn.getAuthInfo() lists them: always an ip id, then what they logged in as.
    static final List<Id> A = List.of(IP, A_SASL);
    static final List<Id> A_BY_DIGEST = List.of(IP, A_DIGEST);
    static final List<Id> B = List.of(IP, B_SASL);
    static final List<Id> B_BY_DIGEST = List.of(IP, B_DIGEST);
    static final List<Id> R = List.of(IP, R_SASL);
    static final List<Id> ANONYMOUS = List.of(IP);
    static final List<Id> RETIRED = List.of(IP, OLD_SASL);
    static final List<Id> SUPER_SESSION = List.of(IP, SUPER);

    static final Map<List<Id>, String> NAMES = Map.of(
        A, "A (sasl)", A_BY_DIGEST, "A (digest)", B, "B (sasl)", B_BY_DIGEST, "B (digest)", R, "R (read-only grant)",
        ANONYMOUS, "an anonymous session", RETIRED, "a retired user", SUPER_SESSION, "super");

    static String who(List<Id> ids) {
        return NAMES.getOrDefault(ids, ids.toString().replace("\n", " "));
    }

    /** What no session but A's may name (walk-up semantics: the path or anything under it). */
    static final List<String> FOREIGN_TO_A = List.of(
        "/app-b", "/shared/b", "/readonly", "/old", "/gone", "/zookeeper-k8s", "/zookeeper/quota");

    private static int passed;
    private static final List<String> failed = new ArrayList<>();

    // ---------------------------------------------------------------- running

    interface Body {
        void run() throws Exception;
    }

    static final class Failure extends RuntimeException {
        private static final long serialVersionUID = 1L;

        Failure(String why) {
            super(why);
        }
    }

    static void check(String name, Body body) {
        try {
            body.run();
            passed++;
            System.out.println("ok " + name);
        } catch (Failure e) {
            failed.add(name);
            System.out.println("FAIL " + name + ": " + oneLine(e.getMessage()));
        } catch (Throwable e) {
            failed.add(name);
            System.out.println("FAIL " + name + ": threw " + oneLine(e.toString()));
        }
    }

    /** Jute's toString() of an Id or ACL spans lines: one FAIL line per check. */
    static String oneLine(String text) {
        return String.valueOf(text).replaceAll("\\s*\n\\s*", " ");
    }

    static void expect(boolean ok, String why) {
        if (!ok) {
            throw new Failure(why);
        }
    }

    // ---------------------------------------------------------------- frames

    /** A request as a client sends it, less the 4-byte length prefix. */
    static byte[] frame(int xid, int type, Record body) throws IOException {
        ByteArrayOutputStream bytes = new ByteArrayOutputStream();
        BinaryOutputArchive out = BinaryOutputArchive.getArchive(bytes);
        new RequestHeader(xid, type).serialize(out, "header");
        if (body != null) {
            body.serialize(out, "request");
        }
        return bytes.toByteArray();
    }

    static byte[] serialize(Record record) throws IOException {
        ByteArrayOutputStream bytes = new ByteArrayOutputStream();
        record.serialize(BinaryOutputArchive.getArchive(bytes), "record");
        return bytes.toByteArray();
    }

    static RequestHeader header(byte[] frame) throws IOException {
        RequestHeader header = new RequestHeader();
        header.deserialize(BinaryInputArchive.getArchive(new ByteArrayInputStream(frame)), "header");
        return header;
    }

    /** The frame's body as `record`, after checking its header; nothing may follow it. */
    static <T extends Record> T body(byte[] frame, int xid, int type, T record) throws IOException {
        return body(frame, xid, type, record, true);
    }

    /** Not `strict`: as ZooKeeper reads a request, ignoring whatever follows the record. */
    static <T extends Record> T body(byte[] frame, int xid, int type, T record, boolean strict) throws IOException {
        ByteArrayInputStream stream = new ByteArrayInputStream(frame);
        BinaryInputArchive in = BinaryInputArchive.getArchive(stream);
        RequestHeader header = new RequestHeader();
        header.deserialize(in, "header");
        expect(header.getXid() == xid && header.getType() == type,
               "header is xid " + header.getXid() + " type " + header.getType() + ", expected xid " + xid + " type " + type);
        record.deserialize(in, "request");
        expect(!strict || stream.available() == 0, stream.available() + " bytes follow the request");
        return record;
    }

    static byte[] filter(List<Id> ids, int type, Record body) throws IOException {
        return GATE.filter(ids, frame(XID, type, body));
    }

    static boolean isRefusal(byte[] out, int xid) {
        if (out == null || out.length < 8) {
            return false;
        }
        try {
            GetDataRequest read = body(out, xid, OpCode.getData, new GetDataRequest());
            return read.getPath().equals(POLICY_PATH) && !read.getWatch();
        } catch (IOException | Failure e) {
            return false;
        }
    }

    static String describe(byte[] out) {
        if (out == null) {
            return "null (passed unchanged)";
        }
        try {
            RequestHeader header = header(out);
            if (isRefusal(out, header.getXid())) {
                return "a refusal (getData " + POLICY_PATH + ", xid " + header.getXid() + ")";
            }
            return "a rewritten frame (xid " + header.getXid() + ", type " + header.getType() + ", " + out.length + " bytes)";
        } catch (IOException e) {
            return "an unreadable frame of " + out.length + " bytes";
        }
    }

    static void expectRefused(byte[] out, int xid, String what) {
        expect(isRefusal(out, xid), what + ": expected a refusal (getData " + POLICY_PATH
               + ", watch=false, xid " + xid + "), got " + describe(out));
    }

    static void expectRefused(byte[] out, String what) {
        expectRefused(out, XID, what);
    }

    static void expectPassed(byte[] out, String what) {
        expect(out == null, what + ": expected null (unchanged), got " + describe(out));
    }

    // ---------------------------------------------------------------- requests

    /** A request that names one path and carries no ACL. */
    record PathRequest(String name, int type, Function<String, Record> make) {
    }

    static final List<PathRequest> PATH_REQUESTS = List.of(
        new PathRequest("exists", OpCode.exists, p -> new ExistsRequest(p, true)),
        new PathRequest("getData", OpCode.getData, p -> new GetDataRequest(p, true)),
        new PathRequest("getChildren", OpCode.getChildren, p -> new GetChildrenRequest(p, true)),
        new PathRequest("getChildren2", OpCode.getChildren2, p -> new GetChildren2Request(p, true)),
        new PathRequest("getACL", OpCode.getACL, p -> new GetACLRequest(p)),
        new PathRequest("sync", OpCode.sync, p -> new SyncRequest(p)),
        new PathRequest("checkWatches", OpCode.checkWatches, p -> new CheckWatchesRequest(p, 2)),
        new PathRequest("removeWatches", OpCode.removeWatches, p -> new RemoveWatchesRequest(p, 3)),
        new PathRequest("getAllChildrenNumber", OpCode.getAllChildrenNumber, p -> new GetAllChildrenNumberRequest(p)),
        new PathRequest("getEphemerals", OpCode.getEphemerals, p -> new GetEphemeralsRequest(p)),
        new PathRequest("addWatch persistent", OpCode.addWatch,
                        p -> new AddWatchRequest(p, AddWatchMode.PERSISTENT.getMode())),
        new PathRequest("addWatch persistentRecursive", OpCode.addWatch,
                        p -> new AddWatchRequest(p, AddWatchMode.PERSISTENT_RECURSIVE.getMode())),
        new PathRequest("delete", OpCode.delete, p -> new DeleteRequest(p, -1)),
        new PathRequest("setData", OpCode.setData, p -> new SetDataRequest(p, DATA, -1)),
        new PathRequest("check", OpCode.check, p -> new CheckVersionRequest(p, 3)));

    /** A request that carries an ACL for the path it names. */
    record AclRequest(String name, int type) {
        Record make(String path, List<ACL> acl) {
            switch (type) {
                case OpCode.createContainer:
                    return new CreateRequest(path, DATA, acl, CreateMode.CONTAINER.toFlag());
                case OpCode.createTTL:
                    return new CreateTTLRequest(path, DATA, acl, CreateMode.PERSISTENT_WITH_TTL.toFlag(), 60_000L);
                case OpCode.setACL:
                    return new SetACLRequest(path, acl, 4);
                default:
                    return new CreateRequest(path, DATA, acl, CreateMode.EPHEMERAL.toFlag());
            }
        }

        Record empty() {
            switch (type) {
                case OpCode.createTTL:
                    return new CreateTTLRequest();
                case OpCode.setACL:
                    return new SetACLRequest();
                default:
                    return new CreateRequest();
            }
        }
    }

    static final List<AclRequest> ACL_REQUESTS = List.of(
        new AclRequest("create", OpCode.create),
        new AclRequest("create2", OpCode.create2),
        new AclRequest("createContainer", OpCode.createContainer),
        new AclRequest("createTTL", OpCode.createTTL),
        new AclRequest("setACL", OpCode.setACL));

    static List<ACL> aclOf(Record record) {
        if (record instanceof CreateRequest) {
            return ((CreateRequest) record).getAcl();
        } else if (record instanceof CreateTTLRequest) {
            return ((CreateTTLRequest) record).getAcl();
        }
        return ((SetACLRequest) record).getAcl();
    }

    static void setAcl(Record record, List<ACL> acl) {
        if (record instanceof CreateRequest) {
            ((CreateRequest) record).setAcl(acl);
        } else if (record instanceof CreateTTLRequest) {
            ((CreateTTLRequest) record).setAcl(acl);
        } else {
            ((SetACLRequest) record).setAcl(acl);
        }
    }

    static ACL acl(int perms, Id id) {
        return new ACL(perms, id);
    }

    static List<ACL> acls(ACL... entries) {
        return List.of(entries);
    }

    /** An ACL as identity -> permissions; fails on an identity listed twice. */
    static Map<Id, Integer> byId(List<ACL> acl) {
        Map<Id, Integer> map = new LinkedHashMap<>();
        for (ACL entry : acl) {
            expect(map.put(entry.getId(), entry.getPerms()) == null, "identity " + show(entry.getId()) + " listed twice in " + show(acl));
        }
        return map;
    }

    static String show(Id id) {
        return id.getScheme() + ":" + id.getId();
    }

    /** An ACL as `scheme:id=perms, ...` (jute's toString spans lines). */
    static String show(List<ACL> acl) {
        if (acl == null) {
            return "null";
        }
        List<String> entries = new ArrayList<>();
        acl.forEach(entry -> entries.add(show(entry.getId()) + "=" + entry.getPerms()));
        return "[" + String.join(", ", entries) + "]";
    }

    static String show(Map<Id, Integer> acl) {
        List<ACL> entries = new ArrayList<>();
        acl.forEach((id, perms) -> entries.add(new ACL(perms, id)));
        return show(entries);
    }

    static Map<Id, Integer> expected(Object... idsAndPerms) {
        Map<Id, Integer> map = new LinkedHashMap<>();
        for (int i = 0; i < idsAndPerms.length; i += 2) {
            map.put((Id) idsAndPerms[i], (Integer) idsAndPerms[i + 1]);
        }
        return map;
    }

    static final int RW = Perms.READ | Perms.WRITE;
    static final int GRANT = Perms.CREATE | Perms.DELETE | Perms.READ | Perms.WRITE;

    /** An ACL a client asks for in a chroot, and what the znode must get instead. */
    record AclCase(String name, List<Id> session, String path, List<ACL> asked, Map<Id, Integer> closed) {
    }

    static final List<AclCase> ACL_CASES = List.of(
        new AclCase("world:anyone", A, "/app/x", acls(acl(Perms.ALL, ANYONE)),
                    expected(A_SASL, GRANT, A_DIGEST, GRANT, SUPER, Perms.ALL)),
        new AclCase("auth", A, "/app/x", acls(acl(RW, AUTH)),
                    expected(A_SASL, RW, A_DIGEST, RW, SUPER, Perms.ALL)),
        new AclCase("an ip id", A, "/app/x", acls(acl(Perms.READ, IP)),
                    expected(A_SASL, Perms.READ, A_DIGEST, Perms.READ, SUPER, Perms.ALL)),
        new AclCase("another app's sasl id", A, "/app/x", acls(acl(Perms.ALL, B_SASL)),
                    expected(A_SASL, GRANT, A_DIGEST, GRANT, SUPER, Perms.ALL)),
        new AclCase("the owner's digest id only", A, "/app/x", acls(acl(RW, A_DIGEST)),
                    expected(A_DIGEST, RW, SUPER, Perms.ALL)),
        new AclCase("the owner's sasl id with admin (capped)", A, "/app/x", acls(acl(Perms.ALL, A_SASL)),
                    expected(A_SASL, GRANT, SUPER, Perms.ALL)),
        new AclCase("admin only (nothing left but super)", A, "/app/x", acls(acl(Perms.ADMIN, ANYONE)),
                    expected(SUPER, Perms.ALL)),
        new AclCase("world read plus own digest write (merged)", A, "/app/x",
                    acls(acl(Perms.READ, ANYONE), acl(Perms.WRITE | Perms.CREATE, A_DIGEST)),
                    expected(A_SASL, Perms.READ, A_DIGEST, Perms.READ | Perms.WRITE | Perms.CREATE, SUPER, Perms.ALL)),
        new AclCase("the super id (kept at all, plus owners)", A, "/app/x", acls(acl(Perms.READ, SUPER)),
                    expected(A_SASL, Perms.READ, A_DIGEST, Perms.READ, SUPER, Perms.ALL)),
        new AclCase("world:anyone on the chroot itself", A, "/app", acls(acl(Perms.ALL, ANYONE)),
                    expected(A_SASL, GRANT, A_DIGEST, GRANT, SUPER, Perms.ALL)),
        new AclCase("world:anyone by the owner's digest login", A_BY_DIGEST, "/app/x", acls(acl(Perms.ALL, ANYONE)),
                    expected(A_SASL, GRANT, A_DIGEST, GRANT, SUPER, Perms.ALL)),
        new AclCase("world:anyone in a read-only grant", R, "/readonly/x", acls(acl(Perms.ALL, ANYONE)),
                    expected(R_SASL, Perms.READ, SUPER, Perms.ALL)),
        new AclCase("world:anyone in a nested chroot", B, "/shared/b/x", acls(acl(Perms.ALL, ANYONE)),
                    expected(B_SASL, GRANT, B_DIGEST, GRANT, SUPER, Perms.ALL)),
        new AclCase("world:anyone at a trailing slash (sequential child)", A, "/app/", acls(acl(Perms.ALL, ANYONE)),
                    expected(A_SASL, GRANT, A_DIGEST, GRANT, SUPER, Perms.ALL)));

    // ---------------------------------------------------------------- multi

    /** One op of a multi frame: its header, its record and the exact bytes of both. */
    record MultiOp(MultiHeader header, Record record, byte[] bytes) {
    }

    /** A multi or multiRead frame split into its ops (the done header last, with no record). */
    static List<MultiOp> ops(byte[] frame) throws IOException {
        return ops(frame, true);
    }

    static List<MultiOp> ops(byte[] frame, boolean strict) throws IOException {
        ByteArrayInputStream stream = new ByteArrayInputStream(frame, 8, frame.length - 8);
        BinaryInputArchive in = BinaryInputArchive.getArchive(stream);
        List<MultiOp> ops = new ArrayList<>();
        while (true) {
            int start = frame.length - stream.available();
            MultiHeader header = new MultiHeader();
            header.deserialize(in, "header");
            Record record = null;
            if (!header.getDone()) {
                switch (header.getType()) {
                    case OpCode.create:
                    case OpCode.create2:
                    case OpCode.createContainer: record = new CreateRequest(); break;
                    case OpCode.createTTL: record = new CreateTTLRequest(); break;
                    case OpCode.delete: record = new DeleteRequest(); break;
                    case OpCode.setData: record = new SetDataRequest(); break;
                    case OpCode.check: record = new CheckVersionRequest(); break;
                    case OpCode.getChildren: record = new GetChildrenRequest(); break;
                    case OpCode.getData: record = new GetDataRequest(); break;
                    default: throw new IOException("op type " + header.getType() + " in multi");
                }
                record.deserialize(in, "op");
            }
            ops.add(new MultiOp(header, record, Arrays.copyOfRange(frame, start, frame.length - stream.available())));
            if (header.getDone()) {
                expect(!strict || stream.available() == 0, stream.available() + " bytes follow the multi's done header");
                return ops;
            }
        }
    }

    static byte[] multi(int type, Op... ops) throws IOException {
        return frame(XID, type, new MultiOperationRecord(List.of(ops)));
    }

    static List<ACL> open() {
        return acls(acl(Perms.ALL, ANYONE));
    }

    // ---------------------------------------------------------------- the checks

    public static void main(String[] args) throws Exception {
        policyChecks();
        aclChecks();
        ownershipChecks();
        prefixChecks();
        readChecks();
        reservedChecks();
        multiChecks();
        watchChecks();
        malformedChecks();
        unjudgedChecks();
        usersChecks();
        policySourceChecks();
        sessionChecks();
        System.out.println(passed + " passed, " + failed.size() + " failed" + (failed.isEmpty() ? "" : ": " + failed));
        System.exit(failed.isEmpty() ? 0 : 1);
    }

    static void policyChecks() {
        check("policy: parses users, chroots, grants and owners", () -> {
            expect(POLICY.users.equals(Map.of("relation-7", "password-a", "relation-8", "password-b", "relation-9", "password-r")),
                   "users " + POLICY.users);
            Policy.Chroot app = POLICY.chroots.get("/app");
            expect(app != null && app.perms == GRANT && app.owners.equals(List.of(A_SASL, A_DIGEST)),
                   "/app is " + (app == null ? "missing" : app.perms + " " + app.owners));
            expect(POLICY.chroots.get("/readonly").perms == Perms.READ, "/readonly grant");
        });
        check("policy: an owner-less chroot line parses, with no owner and no grant", () -> {
            Policy.Chroot gone = POLICY.chroots.get("/gone");
            expect(gone != null && gone.owners.isEmpty() && gone.perms == 0,
                   "/gone is " + (gone == null ? "missing" : gone.perms + " " + gone.owners));
        });
        check("policy: malformed text is rejected, not half-read", () -> {
            for (String text : List.of("", "zookeeper-k8s policy 2\n", "user\tx\ty\n",
                                       Policy.HEADER + "\nchroot\t/x\n",
                                       Policy.HEADER + "\nchroot\tx\tr\tsasl:x\n",
                                       Policy.HEADER + "\nchroot\t/x\trwz\tsasl:x\n",
                                       Policy.HEADER + "\nchroot\t/x\tr\tnoscheme\n",
                                       Policy.HEADER + "\nuser\tx\n",
                                       Policy.HEADER + "\ngrant\t/x\n")) {
                try {
                    Policy.parse(text.getBytes(StandardCharsets.UTF_8));
                    throw new Failure("accepted " + text.replace("\t", "\\t").replace("\n", "\\n"));
                } catch (IllegalArgumentException expected) {
                    // refused
                }
            }
        });
    }

    static void aclChecks() {
        for (AclRequest op : ACL_REQUESTS) {
            for (AclCase c : ACL_CASES) {
                check(op.name() + " " + c.path() + " with " + c.name() + ": ACL closed to the owner", () -> {
                    Record asked = op.make(c.path(), c.asked());
                    byte[] out = GATE.filter(c.session(), frame(XID, op.type(), asked));
                    expect(out != null && !isRefusal(out, XID), "expected a rewritten request, got " + describe(out));
                    Record back = body(out, XID, op.type(), op.empty());
                    Map<Id, Integer> got = byId(aclOf(back));
                    expect(got.equals(c.closed()), "ACL " + show(aclOf(back)) + ", expected " + show(c.closed()));
                    setAcl(back, c.asked());
                    expect(back.equals(asked), "fields other than the ACL changed: " + back + " vs " + asked);
                });
            }
            check(op.name() + " /app/x with an empty ACL: left empty for ZooKeeper to refuse", () -> {
                byte[] out = filter(A, op.type(), op.make("/app/x", List.of()));
                expect(out == null || !isRefusal(out, XID) && aclOf(body(out, XID, op.type(), op.empty())).isEmpty(),
                       "got " + describe(out));
            });
            for (List<Id> intruder : List.of(B, B_BY_DIGEST, ANONYMOUS, R)) {
                for (String path : List.of("/app/x", "/app")) {
                    check(op.name() + " " + path + " by non-owner " + who(intruder) + ": refused", () ->
                        expectRefused(filter(intruder, op.type(), op.make(path, open())), op.name()));
                }
            }
            check(op.name() + " outside every chroot: unchanged, whoever asks", () -> {
                for (List<Id> session : List.of(A, B, ANONYMOUS)) {
                    expectPassed(filter(session, op.type(), op.make("/free/x", open())), op.name() + " by " + who(session));
                }
            });
            check(op.name() + " anywhere by super: unchanged", () -> {
                for (String path : List.of("/app/x", "/gone/x", "/zookeeper-k8s/policy", "/zookeeper/quota/x", "/free")) {
                    expectPassed(filter(SUPER_SESSION, op.type(), op.make(path, open())), path);
                }
            });
        }
    }

    static void ownershipChecks() {
        check("retired SASL user (not in the policy): refused everywhere, own chroot included", () -> {
            for (PathRequest request : PATH_REQUESTS) {
                for (String path : List.of("/old/x", "/free", "/", "/app/x")) {
                    expectRefused(filter(RETIRED, request.type(), request.make().apply(path)), request.name() + " " + path);
                }
            }
            for (AclRequest op : ACL_REQUESTS) {
                expectRefused(filter(RETIRED, op.type(), op.make("/free/x", open())), op.name() + " /free/x");
                expectRefused(filter(RETIRED, op.type(), op.make("/old/x", open())), op.name() + " /old/x");
            }
            expectRefused(GATE.filter(RETIRED, multi(OpCode.multi, Op.setData("/free", DATA, -1))), "multi");
        });
        check("retired SASL user: re-registered watches all dropped", () -> {
            byte[] out = GATE.filter(RETIRED, frame(-8, OpCode.setWatches,
                new SetWatches(5, List.of("/free"), List.of("/old/x"), List.of("/"))));
            expect(out != null && !isRefusal(out, -8), "expected the watches rewritten, got " + describe(out));
            SetWatches kept = body(out, -8, OpCode.setWatches, new SetWatches());
            expect(kept.getDataWatches().isEmpty() && kept.getExistWatches().isEmpty() && kept.getChildWatches().isEmpty(),
                   "kept " + kept);
        });
        check("a SASL user of the JAAS section (not in the policy) is not retired", () -> {
            Gate gate = new Gate(() -> POLICY, Map.of("relation-6", "pw"), List.of(SUPER), POLICY_PATH);
            expectPassed(gate.filter(RETIRED, frame(XID, OpCode.getData, new GetDataRequest("/old/x", false))), "own /old/x");
            expectPassed(gate.filter(RETIRED, frame(XID, OpCode.getData, new GetDataRequest("/free", false))), "/free");
            expectRefused(gate.filter(RETIRED, frame(XID, OpCode.getData, new GetDataRequest("/app/x", false))), "/app/x");
        });
        check("a retired user who also logged in by digest: still refused", () ->
            expectRefused(GATE.filter(List.of(IP, A_DIGEST, OLD_SASL),
                                      frame(XID, OpCode.getData, new GetDataRequest("/app/x", false))), "getData /app/x"));
        check("owner-less chroot: refused for everyone but super", () -> {
            for (List<Id> session : List.of(A, A_BY_DIGEST, B, R, ANONYMOUS)) {
                for (PathRequest request : PATH_REQUESTS) {
                    for (String path : List.of("/gone", "/gone/x")) {
                        expectRefused(filter(session, request.type(), request.make().apply(path)),
                                      request.name() + " " + path + " by " + who(session));
                    }
                }
                expectRefused(filter(session, OpCode.create, new CreateRequest("/gone/x", DATA, open(), 0)),
                              "create /gone/x by " + who(session));
            }
            for (PathRequest request : PATH_REQUESTS) {
                expectPassed(filter(SUPER_SESSION, request.type(), request.make().apply("/gone/x")), request.name() + " by super");
            }
        });
        check("super: everything passes unchanged, garbage included", () -> {
            for (PathRequest request : PATH_REQUESTS) {
                for (String path : List.of("/", "/app/x", "/app-b", "/gone", POLICY_PATH, "/zookeeper/quota")) {
                    expectPassed(filter(SUPER_SESSION, request.type(), request.make().apply(path)), request.name() + " " + path);
                }
            }
            expectPassed(GATE.filter(SUPER_SESSION, multi(OpCode.multi, Op.create("/app/x", DATA, open(), CreateMode.PERSISTENT),
                                                          Op.delete("/app-b/y", -1))), "multi");
            expectPassed(GATE.filter(SUPER_SESSION, frame(-8, OpCode.setWatches2, new SetWatches2(1, List.of("/app-b"),
                List.of(), List.of(), List.of(), List.of("/")))), "setWatches2");
            expectPassed(GATE.filter(SUPER_SESSION, new byte[] {0, 0, 0, 1, 0, 0, 0, 4, -1}), "a garbage getData");
            expectPassed(GATE.filter(List.of(SUPER), new byte[0]), "an empty frame");
        });
        check("outside every chroot: unchanged for any session", () -> {
            for (List<Id> session : List.of(A, B, ANONYMOUS, R)) {
                for (PathRequest request : PATH_REQUESTS) {
                    if (request.name().endsWith("Recursive")) {
                        continue; // above chroots: its own checks
                    }
                    for (String path : List.of("/", "/free", "/free/x", "/zookeeper", "/zookeeper/config")) {
                        expectPassed(filter(session, request.type(), request.make().apply(path)),
                                     request.name() + " " + path + " by " + who(session));
                    }
                }
            }
        });
    }

    static void prefixChecks() {
        check("prefix: B is refused /app, /app/ and /app/x", () -> {
            for (String path : List.of("/app", "/app/", "/app/x", "/app/x/y")) {
                expectRefused(filter(B, OpCode.getData, new GetDataRequest(path, false)), "getData " + path);
                expectRefused(filter(B, OpCode.create, new CreateRequest(path, DATA, open(), 2)), "create " + path);
            }
        });
        check("prefix: /ap, /apple, /app-c, /appx are no chroot: unchanged for B", () -> {
            for (String path : List.of("/ap", "/apple", "/app-c", "/appx", "/ap/p")) {
                expectPassed(filter(B, OpCode.getData, new GetDataRequest(path, false)), "getData " + path);
                expectPassed(filter(B, OpCode.create, new CreateRequest(path, DATA, open(), 0)), "create " + path);
            }
        });
        check("prefix: A is refused /app-b, /app-b/ and /app-b/x, and /app-bx is no chroot", () -> {
            for (String path : List.of("/app-b", "/app-b/", "/app-b/x")) {
                expectRefused(filter(A, OpCode.getData, new GetDataRequest(path, false)), "getData " + path);
                expectRefused(filter(A, OpCode.create, new CreateRequest(path, DATA, open(), 2)), "create " + path);
            }
            expectPassed(filter(A, OpCode.getData, new GetDataRequest("/app-bx", false)), "getData /app-bx");
        });
        check("prefix: B's /app-b/x is B's own (closed), not taken for A's /app", () -> {
            byte[] out = filter(B, OpCode.create, new CreateRequest("/app-b/x", DATA, open(), 0));
            expect(out != null && !isRefusal(out, XID), "got " + describe(out));
            List<ACL> acl = body(out, XID, OpCode.create, new CreateRequest()).getAcl();
            expect(byId(acl).equals(expected(B_SASL, GRANT, B_DIGEST, GRANT, SUPER, Perms.ALL)), "ACL " + show(acl));
        });
        check("prefix: a recursive watch on /app (A) is not above /app-b, on /ap not above /app", () -> {
            expectPassed(filter(A, OpCode.addWatch, new AddWatchRequest("/app", 1)), "A on /app");
            expectPassed(filter(A, OpCode.addWatch, new AddWatchRequest("/ap", 1)), "A on /ap");
            expectPassed(filter(B, OpCode.addWatch, new AddWatchRequest("/ap", 1)), "B on /ap");
        });
        check("nested: /shared is free, /shared/b is B's, /shared/bx is free", () -> {
            expectPassed(filter(A, OpCode.getChildren, new GetChildrenRequest("/shared", true)), "A getChildren /shared");
            expectPassed(filter(A, OpCode.addWatch, new AddWatchRequest("/shared", 0)), "A persistent /shared");
            expectRefused(filter(A, OpCode.addWatch, new AddWatchRequest("/shared", 1)), "A recursive /shared");
            expectRefused(filter(A, OpCode.addWatch, new AddWatchRequest("/shared/", 1)), "A recursive /shared/");
            expectPassed(filter(B, OpCode.addWatch, new AddWatchRequest("/shared", 1)), "B recursive /shared");
            expectRefused(filter(A, OpCode.getData, new GetDataRequest("/shared/b/x", false)), "A getData /shared/b/x");
            expectPassed(filter(A, OpCode.getData, new GetDataRequest("/shared/bx", false)), "A getData /shared/bx");
            expectPassed(filter(A, OpCode.create, new CreateRequest("/shared/bx", DATA, open(), 0)), "A create /shared/bx");
        });
    }

    static void readChecks() {
        for (PathRequest request : PATH_REQUESTS) {
            check(request.name() + " of a foreign path: refused", () -> {
                for (String path : List.of("/app-b", "/app-b/x", "/readonly/x", "/shared/b", "/old/x")) {
                    expectRefused(filter(A, request.type(), request.make().apply(path)), path + " by A");
                }
                for (List<Id> intruder : List.of(B, B_BY_DIGEST, ANONYMOUS)) {
                    expectRefused(filter(intruder, request.type(), request.make().apply("/app/x")), "/app/x by " + who(intruder));
                }
            });
            check(request.name() + " of an own path: unchanged", () -> {
                for (List<Id> owner : List.of(A, A_BY_DIGEST)) {
                    for (String path : List.of("/app", "/app/x", "/app/x/y")) {
                        expectPassed(filter(owner, request.type(), request.make().apply(path)), path + " by " + who(owner));
                    }
                }
                expectPassed(filter(B, request.type(), request.make().apply("/shared/b/x")), "/shared/b/x by B");
            });
        }
        check("xid is kept in a refusal, whatever it is", () -> {
            for (int xid : new int[] {0, 1, -8, Integer.MAX_VALUE, Integer.MIN_VALUE}) {
                expectRefused(GATE.filter(A, frame(xid, OpCode.exists, new ExistsRequest("/app-b/x", true))), xid, "xid " + xid);
            }
        });
        check("addWatch persistentRecursive on / refused for every non-super session", () -> {
            for (List<Id> session : List.of(A, A_BY_DIGEST, B, R, ANONYMOUS)) {
                expectRefused(filter(session, OpCode.addWatch, new AddWatchRequest("/", 1)), "by " + who(session));
            }
            expectPassed(filter(SUPER_SESSION, OpCode.addWatch, new AddWatchRequest("/", 1)), "by super");
            expectPassed(filter(A, OpCode.addWatch, new AddWatchRequest("/", 0)), "persistent (not recursive) by A");
        });
        check("addWatch persistentRecursive on / refused even with no other app (reserved areas below)", () -> {
            Policy alone = Policy.parse((Policy.HEADER + "\nchroot\t/app\tcdrw\tsasl:relation-7\n").getBytes(StandardCharsets.UTF_8));
            Gate gate = new Gate(() -> alone, Map.of("relation-7", "pw"), List.of(SUPER), POLICY_PATH);
            expectRefused(gate.filter(A, frame(XID, OpCode.addWatch, new AddWatchRequest("/", 1))), "/");
            expectRefused(gate.filter(A, frame(XID, OpCode.addWatch, new AddWatchRequest("/zookeeper", 1))), "/zookeeper");
            expectPassed(gate.filter(A, frame(XID, OpCode.addWatch, new AddWatchRequest("/free", 1))), "/free");
        });
    }

    static void reservedChecks() {
        List<String> reserved = List.of("/zookeeper-k8s", POLICY_PATH, "/zookeeper-k8s/other", "/zookeeper/quota",
                                        "/zookeeper/quota/app", "/zookeeper/quota/app/zookeeper_limits");
        check("/zookeeper-k8s/... and /zookeeper/quota/...: refused for every non-super session", () -> {
            for (List<Id> session : List.of(A, B, ANONYMOUS)) {
                for (String path : reserved) {
                    for (PathRequest request : PATH_REQUESTS) {
                        expectRefused(filter(session, request.type(), request.make().apply(path)),
                                      request.name() + " " + path + " by " + who(session));
                    }
                    for (AclRequest op : ACL_REQUESTS) {
                        expectRefused(filter(session, op.type(), op.make(path, open())), op.name() + " " + path);
                    }
                }
            }
        });
        check("/zookeeper, /zookeeper/config, /zookeeper-k8sx, /zookeeper/quotas: not reserved", () -> {
            for (String path : List.of("/zookeeper", "/zookeeper/config", "/zookeeper-k8sx", "/zookeeper/quotas")) {
                expectPassed(filter(A, OpCode.getData, new GetDataRequest(path, true)), path);
            }
            expectRefused(filter(A, OpCode.addWatch, new AddWatchRequest("/zookeeper", 1)), "recursive /zookeeper");
        });
        check("multi touching /zookeeper/quota or the policy: refused", () -> {
            expectRefused(GATE.filter(A, multi(OpCode.multi, Op.setData("/app/x", DATA, -1),
                                               Op.create("/zookeeper/quota/app", DATA, open(), CreateMode.PERSISTENT))), "quota");
            expectRefused(GATE.filter(A, multi(OpCode.multiRead, Op.getData(POLICY_PATH))), "policy");
        });
    }

    static void multiChecks() {
        check("multi: creates in own chroot closed, every other op byte-identical", () -> {
            byte[] in = multi(OpCode.multi,
                              Op.create("/app/x", DATA, open(), CreateMode.PERSISTENT),
                              Op.setData("/app/y", DATA, 7),
                              Op.delete("/app/z", -1),
                              Op.check("/app", 3),
                              Op.create("/free/q", DATA, open(), CreateMode.PERSISTENT),
                              Op.create("/app/c", DATA, open(), CreateMode.CONTAINER),
                              Op.create("/app/t", DATA, open(), CreateMode.PERSISTENT_WITH_TTL, 60_000L),
                              Op.create("/app/s", DATA, acls(acl(RW, A_DIGEST)), CreateMode.EPHEMERAL_SEQUENTIAL));
            byte[] out = GATE.filter(A, in);
            expect(out != null && !isRefusal(out, XID), "got " + describe(out));
            expect(Arrays.equals(Arrays.copyOf(out, 8), Arrays.copyOf(in, 8)), "xid/type changed");
            List<MultiOp> before = ops(in);
            List<MultiOp> after = ops(out);
            expect(before.size() == after.size(), after.size() + " ops, expected " + before.size());
            Map<Integer, Map<Id, Integer>> closed = Map.of(
                0, expected(A_SASL, GRANT, A_DIGEST, GRANT, SUPER, Perms.ALL),
                5, expected(A_SASL, GRANT, A_DIGEST, GRANT, SUPER, Perms.ALL),
                6, expected(A_SASL, GRANT, A_DIGEST, GRANT, SUPER, Perms.ALL),
                7, expected(A_DIGEST, RW, SUPER, Perms.ALL));
            for (int i = 0; i < before.size(); i++) {
                MultiOp was = before.get(i);
                MultiOp is = after.get(i);
                expect(was.header().equals(is.header()), "op " + i + " header " + is.header() + ", was " + was.header());
                if (closed.containsKey(i)) {
                    Map<Id, Integer> got = byId(aclOf(is.record()));
                    expect(got.equals(closed.get(i)), "op " + i + " ACL " + show(got) + ", expected " + show(closed.get(i)));
                    setAcl(is.record(), aclOf(was.record()));
                    expect(is.record().equals(was.record()), "op " + i + ": fields other than the ACL changed");
                } else {
                    expect(Arrays.equals(was.bytes(), is.bytes()), "op " + i + " (" + was.record() + ") not byte-identical");
                }
            }
        });
        check("multi: nothing to close (no create, or creates outside chroots): unchanged", () -> {
            expectPassed(GATE.filter(A, multi(OpCode.multi, Op.setData("/app/y", DATA, 7), Op.check("/app", 3),
                                              Op.delete("/app/z", -1))), "own setData/check/delete");
            expectPassed(GATE.filter(A, multi(OpCode.multi, Op.create("/free/a", DATA, open(), CreateMode.PERSISTENT),
                                              Op.delete("/free/b", -1))), "create outside chroots");
            expectPassed(GATE.filter(A, frame(XID, OpCode.multi, new MultiOperationRecord())), "empty multi");
        });
        check("multi: one foreign op refuses the whole transaction", () -> {
            expectRefused(GATE.filter(A, multi(OpCode.multi, Op.create("/app/x", DATA, open(), CreateMode.PERSISTENT),
                                               Op.setData("/app-b/y", DATA, -1))), "A setData /app-b/y last");
            expectRefused(GATE.filter(A, multi(OpCode.multi, Op.check("/app-b", 1),
                                               Op.create("/app/x", DATA, open(), CreateMode.PERSISTENT))), "A check /app-b first");
            expectRefused(GATE.filter(B, multi(OpCode.multi, Op.create("/app-b/x", DATA, open(), CreateMode.PERSISTENT),
                                               Op.delete("/app/x", -1))), "B delete /app/x");
            expectRefused(GATE.filter(B, multi(OpCode.multi, Op.create("/app/x", DATA, open(), CreateMode.PERSISTENT_WITH_TTL, 5L))),
                          "B createTTL /app/x");
            expectRefused(GATE.filter(ANONYMOUS, multi(OpCode.multi, Op.create("/gone/x", DATA, open(), CreateMode.CONTAINER))),
                          "createContainer /gone/x");
        });
        check("multiRead: own and free reads unchanged, one foreign getData refuses it", () -> {
            expectPassed(GATE.filter(A, multi(OpCode.multiRead, Op.getData("/app/x"), Op.getChildren("/app"),
                                              Op.getData("/free"))), "own reads");
            expectRefused(GATE.filter(A, multi(OpCode.multiRead, Op.getData("/app/x"), Op.getData("/app-b/x"))),
                          "getData /app-b/x");
            expectRefused(GATE.filter(A, multi(OpCode.multiRead, Op.getChildren("/gone"))), "getChildren /gone");
        });
        check("multi: an op ZooKeeper does not take in multi (setACL), or no done header: refused", () -> {
            ByteArrayOutputStream bytes = new ByteArrayOutputStream();
            BinaryOutputArchive out = BinaryOutputArchive.getArchive(bytes);
            new RequestHeader(XID, OpCode.multi).serialize(out, "header");
            new MultiHeader(OpCode.setACL, false, -1).serialize(out, "header");
            new SetACLRequest("/free", open(), -1).serialize(out, "op");
            new MultiHeader(-1, true, -1).serialize(out, "header");
            expectRefused(GATE.filter(A, bytes.toByteArray()), "setACL in multi");
            byte[] whole = multi(OpCode.multi, Op.setData("/free", DATA, -1));
            expectRefused(GATE.filter(A, Arrays.copyOf(whole, whole.length - 9)), "no done header");
        });
    }

    static void watchChecks() {
        check("setWatches: exactly the foreign paths dropped, order and zxid kept", () -> {
            SetWatches in = new SetWatches(77,
                List.of("/app/a", "/app-b/b", "/free/c", POLICY_PATH, "/gone/g", "/app/a2"),
                List.of("/app-b/x", "/app/z", "/zookeeper/quota/q", "/ap"),
                List.of("/app", "/app-b", "/", "/shared", "/shared/b"));
            byte[] out = GATE.filter(A, frame(-8, OpCode.setWatches, in));
            expect(out != null && !isRefusal(out, -8), "got " + describe(out));
            SetWatches kept = body(out, -8, OpCode.setWatches, new SetWatches());
            SetWatches wanted = new SetWatches(77, List.of("/app/a", "/free/c", "/app/a2"), List.of("/app/z", "/ap"),
                                               List.of("/app", "/", "/shared"));
            expect(kept.equals(wanted), "kept " + kept + ", expected " + wanted);
        });
        check("setWatches2: foreign paths dropped, and persistentRecursive above a foreign chroot", () -> {
            SetWatches2 in = new SetWatches2(78,
                List.of("/app/a", "/app-b/b"),
                List.of("/zookeeper-k8s"),
                List.of("/gone", "/free"),
                List.of("/", "/app-b", "/app", "/shared", "/old"),
                List.of("/", "/app", "/app-b/x", "/zookeeper", "/shared", "/shared/bx", "/free", "/ap", "/app/deep"));
            byte[] out = GATE.filter(A, frame(-8, OpCode.setWatches2, in));
            expect(out != null && !isRefusal(out, -8), "got " + describe(out));
            SetWatches2 kept = body(out, -8, OpCode.setWatches2, new SetWatches2());
            SetWatches2 wanted = new SetWatches2(78, List.of("/app/a"), List.of(), List.of("/free"),
                List.of("/", "/app", "/shared"), List.of("/app", "/shared/bx", "/free", "/ap", "/app/deep"));
            expect(kept.equals(wanted), "kept " + kept + ", expected " + wanted);
        });
        check("setWatches / setWatches2 with nothing to drop: unchanged (null)", () -> {
            expectPassed(GATE.filter(A, frame(-8, OpCode.setWatches, new SetWatches(1, List.of("/app/a", "/free"),
                List.of("/app/b"), List.of("/", "/app")))), "setWatches");
            expectPassed(GATE.filter(A, frame(-8, OpCode.setWatches2, new SetWatches2(1, List.of("/app/a"), List.of(),
                List.of("/"), List.of("/", "/shared"), List.of("/app", "/free")))), "setWatches2");
            expectPassed(GATE.filter(B, frame(-8, OpCode.setWatches2, new SetWatches2(1, List.of(), List.of(),
                List.of(), List.of(), List.of("/shared", "/app-b")))), "B recursive on /shared (its own below)");
            expectPassed(GATE.filter(A, frame(-8, OpCode.setWatches, new SetWatches(1, List.of(), List.of(), List.of()))),
                         "empty");
        });
    }

    /** What A may name, judged independently of Gate (string prefixes, no walk-up). */
    static boolean allowedForA(String path, boolean recursive) {
        for (String foreign : FOREIGN_TO_A) {
            if (path.equals(foreign) || path.startsWith(foreign + "/")) {
                return false;
            }
            if (recursive && foreign.startsWith(path.endsWith("/") ? path : path + "/")) {
                return false;
            }
        }
        return true;
    }

    /**
     * Every path a frame names as ZooKeeper would read it (trailing bytes ignored), with whether
     * recursively, and the ACLs it carries.
     */
    static void named(byte[] frame, Map<String, Boolean> paths, List<List<ACL>> acls) throws IOException {
        RequestHeader header = header(frame);
        int type = header.getType();
        switch (type) {
            case OpCode.getData: {
                paths.put(body(frame, header.getXid(), type, new GetDataRequest(), false).getPath(), false);
                break;
            }
            case OpCode.create: {
                CreateRequest create = body(frame, header.getXid(), type, new CreateRequest(), false);
                paths.put(create.getPath(), false);
                acls.add(create.getAcl());
                break;
            }
            case OpCode.multi: {
                for (MultiOp op : ops(frame, false)) {
                    if (op.record() instanceof CreateRequest) {
                        paths.put(((CreateRequest) op.record()).getPath(), false);
                        acls.add(((CreateRequest) op.record()).getAcl());
                    } else if (op.record() instanceof SetDataRequest) {
                        paths.put(((SetDataRequest) op.record()).getPath(), false);
                    } else if (op.record() instanceof DeleteRequest) {
                        paths.put(((DeleteRequest) op.record()).getPath(), false);
                    } else if (op.record() != null) {
                        throw new IOException("op " + op.record());
                    }
                }
                break;
            }
            case OpCode.setWatches2: {
                SetWatches2 set = body(frame, header.getXid(), type, new SetWatches2(), false);
                for (List<String> list : List.of(set.getDataWatches(), set.getExistWatches(), set.getChildWatches(),
                                                 set.getPersistentWatches())) {
                    list.forEach(p -> paths.putIfAbsent(p, false));
                }
                set.getPersistentRecursiveWatches().forEach(p -> paths.put(p, true));
                break;
            }
            default:
                throw new IOException("type " + type);
        }
    }

    /** Requests of which Gate reads only the leading path. */
    static final Set<Integer> PATH_ONLY = Set.of(OpCode.delete, OpCode.exists, OpCode.getData, OpCode.setData,
        OpCode.getACL, OpCode.getChildren, OpCode.sync, OpCode.getChildren2, OpCode.check, OpCode.checkWatches,
        OpCode.removeWatches, OpCode.getEphemerals, OpCode.getAllChildrenNumber);

    /** Where the leading path of a request ends. */
    static int pathEnd(byte[] frame) {
        return 12 + ByteBuffer.wrap(frame, 8, 4).getInt();
    }

    static void malformedChecks() {
        List<byte[]> frames = new ArrayList<>();
        try {
            frames.add(frame(XID, OpCode.getData, new GetDataRequest("/app-b/x", true)));
            frames.add(frame(XID, OpCode.getData, new GetDataRequest("/app/x", true)));
            frames.add(frame(XID, OpCode.create, new CreateRequest("/app/x", DATA, open(), 0)));
            frames.add(frame(XID, OpCode.createTTL, new CreateTTLRequest("/app/x", DATA, open(), 5, 9L)));
            frames.add(frame(XID, OpCode.setACL, new SetACLRequest("/app/x", open(), 1)));
            frames.add(frame(XID, OpCode.addWatch, new AddWatchRequest("/free", 1)));
            frames.add(frame(XID, OpCode.exists, new ExistsRequest("/free", false)));
            frames.add(multi(OpCode.multi, Op.create("/app/x", DATA, open(), CreateMode.PERSISTENT), Op.delete("/free", -1)));
            frames.add(multi(OpCode.multiRead, Op.getData("/free"), Op.getChildren("/app")));
            frames.add(frame(XID, OpCode.setWatches, new SetWatches(3, List.of("/app/a"), List.of("/free"), List.of("/"))));
            frames.add(frame(XID, OpCode.setWatches2, new SetWatches2(3, List.of("/app/a"), List.of(), List.of("/"),
                                                                         List.of("/app"), List.of("/free"))));
        } catch (IOException e) {
            throw new IllegalStateException(e);
        }
        check("truncated frames (every length from 4 bytes up, path-only requests cut inside the path): refused", () -> {
            for (byte[] whole : frames) {
                RequestHeader header = header(whole);
                int end = PATH_ONLY.contains(header.getType()) ? pathEnd(whole) : whole.length;
                for (int length = 4; length < end; length++) {
                    byte[] out = GATE.filter(A, Arrays.copyOf(whole, length));
                    expectRefused(out, XID, "type " + header.getType() + " cut to " + length + " of " + whole.length + " bytes");
                }
            }
        });
        // Gate reads the whole record of these requests, not only the path they begin with:
        // a frame cut after a path it allows is refused too (it fails closed).
        check("truncated path-only requests cut after an allowed path (getData, exists, setData,"
              + " delete, getChildren, getChildren2, check, checkWatches, removeWatches): refused", () -> {
            List<String> passedThrough = new ArrayList<>();
            for (PathRequest request : PATH_REQUESTS) {
                if (!PATH_ONLY.contains(request.type())) {
                    continue;
                }
                for (String path : List.of("/app/x", "/free")) {
                    byte[] whole = frame(XID, request.type(), request.make().apply(path));
                    for (int length = pathEnd(whole); length < whole.length; length++) {
                        byte[] out = GATE.filter(A, Arrays.copyOf(whole, length));
                        if (!isRefusal(out, XID)) {
                            passedThrough.add(request.name() + " " + path + " cut to " + length + "/" + whole.length
                                              + " bytes -> " + describe(out));
                        }
                    }
                }
            }
            expect(passedThrough.isEmpty(), passedThrough.size() + " not refused, e.g. " + passedThrough.subList(0,
                   Math.min(3, passedThrough.size())));
        });
        check("frames shorter than the xid (RequestFilter never hands these over): not passed", () -> {
            for (int length = 0; length < 4; length++) {
                byte[] out;
                try {
                    out = GATE.filter(A, new byte[length]);
                } catch (RuntimeException e) {
                    continue; // thrown: the connection is closed, nothing reaches ZooKeeper
                }
                expect(out != null, length + " bytes passed unchanged");
            }
        });
        check("garbage bodies (null path, unreasonable lengths, short strings, null lists): refused", () -> {
            byte[][] bodies = {
                {-1, -1, -1, -1, 0, 0, 0, 0, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1},
                {0x7f, -1, -1, -1, 'a', 'b', 'c'},
                {0, 0, 0, 9, '/', 'a', 'p', 'p'},
                {-128, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0},
                {},
            };
            int[] types = {OpCode.create, OpCode.create2, OpCode.createContainer, OpCode.createTTL, OpCode.setACL,
                           OpCode.exists, OpCode.getData, OpCode.setData, OpCode.delete, OpCode.getACL, OpCode.getChildren,
                           OpCode.getChildren2, OpCode.sync, OpCode.check, OpCode.checkWatches, OpCode.removeWatches,
                           OpCode.getEphemerals, OpCode.getAllChildrenNumber, OpCode.addWatch, OpCode.multi,
                           OpCode.multiRead, OpCode.setWatches, OpCode.setWatches2};
            for (int type : types) {
                for (byte[] garbage : bodies) {
                    byte[] frame = ByteBuffer.allocate(8 + garbage.length).putInt(XID).putInt(type).put(garbage).array();
                    expectRefused(GATE.filter(A, frame), "type " + type + " with body " + Arrays.toString(garbage));
                }
            }
        });
        check("setWatches with null lists (vector length -1): refused, not passed", () -> {
            byte[] frame = ByteBuffer.allocate(8 + 8 + 12).putInt(-8).putInt(OpCode.setWatches).putLong(1)
                .putInt(-1).putInt(-1).putInt(-1).array();
            expectRefused(GATE.filter(A, frame), -8, "setWatches null lists");
        });
        check("fuzz: 20,000 mutated frames of A's; whatever passes or is rewritten names nothing foreign", () -> {
            Random random = new Random(20260209L);
            List<byte[]> seeds = List.of(
                frame(XID, OpCode.getData, new GetDataRequest("/app-b/x", true)),
                frame(XID, OpCode.getData, new GetDataRequest("/app/x", true)),
                frame(XID, OpCode.create, new CreateRequest("/app/x", DATA, open(), 0)),
                frame(XID, OpCode.create, new CreateRequest("/app-b", DATA, open(), 0)),
                multi(OpCode.multi, Op.create("/app/x", DATA, open(), CreateMode.PERSISTENT), Op.delete("/app-b/x", -1)),
                multi(OpCode.multi, Op.setData("/app/y", DATA, 1), Op.create("/free/x", DATA, open(), CreateMode.PERSISTENT)),
                frame(-8, OpCode.setWatches2, new SetWatches2(3, List.of("/app/a", "/app-b/b"), List.of(), List.of("/"),
                                                              List.of("/app"), List.of("/", "/free", "/shared"))));
            for (int round = 0; round < 20_000; round++) {
                byte[] seed = seeds.get(random.nextInt(seeds.size()));
                byte[] mutated = Arrays.copyOf(seed, seed.length);
                int changes = 1 + random.nextInt(3);
                for (int c = 0; c < changes; c++) {
                    int at = 8 + random.nextInt(mutated.length - 8); // the header stays: the type decides the parse
                    mutated[at] = random.nextInt(4) == 0 ? (byte) random.nextInt(256) : (byte) "/ap-b\0x".charAt(random.nextInt(7));
                }
                byte[] out = GATE.filter(A, mutated);
                int xid = header(mutated).getXid();
                if (isRefusal(out, xid)) {
                    continue;
                }
                byte[] seen = out == null ? mutated : out;
                Map<String, Boolean> paths = new HashMap<>();
                List<List<ACL>> acls = new ArrayList<>();
                try {
                    named(seen, paths, acls);
                } catch (IOException | Failure e) {
                    throw new Failure("round " + round + ": " + (out == null ? "passed" : "rewrote") + " a frame it cannot "
                                      + "have read (" + e.getMessage() + "): " + Arrays.toString(mutated));
                }
                for (Map.Entry<String, Boolean> path : paths.entrySet()) {
                    expect(allowedForA(path.getKey(), path.getValue()), "round " + round + ": " + describe(out)
                           + " naming " + path.getKey() + (path.getValue() ? " (recursive)" : ""));
                }
                if (out != null) {
                    for (List<ACL> acl : acls) {
                        for (ACL entry : acl) {
                            expect(entry.getId().equals(SUPER) || Set.of(A_SASL, A_DIGEST).contains(entry.getId())
                                   && (entry.getPerms() & ~GRANT) == 0,
                                   "round " + round + ": rewritten ACL " + show(acl));
                        }
                    }
                }
            }
        });
    }

    /** A connection's channel as ZooKeeper's Netty factory would see it: from a TCP peer. */
    static final class Wire extends EmbeddedChannel {
        @Override
        protected SocketAddress remoteAddress0() {
            return new InetSocketAddress(InetAddress.getLoopbackAddress(), 40000);
        }
    }

    static ByteBuf prefixed(byte[] frame) {
        return Unpooled.buffer().writeInt(frame.length).writeBytes(frame);
    }

    static byte[] drain(ByteBuf buf) {
        byte[] bytes = new byte[buf.readableBytes()];
        buf.readBytes(bytes);
        buf.release();
        return bytes;
    }

    /** A channel with RequestFilter in front, a ZooKeeper connection on it logged in as `ids`. */
    static Wire wire(Supplier<Policy> policy, List<Id> ids) throws Exception {
        Wire wire = new Wire();
        wire.pipeline().addLast(new RequestFilter(new Gate(policy, Map.of(), List.of(SUPER), POLICY_PATH),
                                                  Internals.CONNECTION));
        Class<?> factoryClass = Class.forName("org.apache.zookeeper.server.NettyServerCnxnFactory");
        Constructor<?> factoryConstructor = factoryClass.getDeclaredConstructor();
        factoryConstructor.setAccessible(true);
        Object factory = factoryConstructor.newInstance();
        Constructor<NettyServerCnxn> constructor = NettyServerCnxn.class.getDeclaredConstructor(
            Channel.class, ZooKeeperServer.class, factoryClass);
        constructor.setAccessible(true);
        NettyServerCnxn cnxn = constructor.newInstance(wire, null, factory);
        ids.forEach(cnxn::addAuthInfo);
        wire.attr(Internals.CONNECTION).set(cnxn);
        return wire;
    }

    static void unjudgedChecks() {
        List<byte[]> unjudged = new ArrayList<>();
        try {
            unjudged.add(frame(-2, OpCode.ping, null));
            unjudged.add(frame(-4, OpCode.auth, new AuthPacket(0, "digest", "relation-8:password-b".getBytes(StandardCharsets.UTF_8))));
            unjudged.add(frame(5, OpCode.sasl, new GetSASLRequest(new byte[] {1, 2, 3})));
            unjudged.add(frame(6, OpCode.whoAmI, null));
            unjudged.add(frame(7, OpCode.closeSession, null));
        } catch (IOException e) {
            throw new IllegalStateException(e);
        }
        check("Gate: ping, auth, sasl, whoAmI, closeSession carry no path: null, even for a retired user", () -> {
            for (byte[] frame : unjudged) {
                for (List<Id> session : List.of(A, ANONYMOUS, RETIRED)) {
                    expectPassed(GATE.filter(session, frame), "type " + header(frame).getType() + " by " + who(session));
                }
            }
        });
        check("RequestFilter: connect passes, ping/auth/sasl/whoAmI/closeSession never reach Gate, the rest in order", () -> {
            AtomicInteger judged = new AtomicInteger();
            Wire wire = wire(() -> {
                judged.incrementAndGet();
                return POLICY;
            }, RETIRED);
            byte[] connect = serialize(new ConnectRequest(0, 0, 30_000, 0, new byte[16], false));
            wire.writeInbound(prefixed(connect));
            byte[] first = drain(wire.readInbound());
            expect(Arrays.equals(Arrays.copyOfRange(first, 4, first.length), connect), "the connect request changed");
            ByteBuf all = Unpooled.buffer();
            for (byte[] frame : unjudged.subList(0, 4)) {
                all.writeInt(frame.length).writeBytes(frame);
            }
            byte[] read = frame(9, OpCode.getData, new GetDataRequest("/free", false));
            all.writeInt(read.length).writeBytes(read);
            byte[] close = unjudged.get(4);
            all.writeInt(close.length).writeBytes(close);
            wire.writeInbound(all);
            for (byte[] frame : unjudged.subList(0, 4)) {
                ByteBuf next = wire.readInbound();
                expect(next != null, "type " + header(frame).getType() + " did not come through");
                byte[] got = drain(next);
                expect(ByteBuffer.wrap(got).getInt() == frame.length
                       && Arrays.equals(Arrays.copyOfRange(got, 4, got.length), frame),
                       "type " + header(frame).getType() + " changed");
            }
            ByteBuf refused = wire.readInbound();
            expect(refused != null, "the getData did not come through");
            byte[] got = drain(refused);
            expect(ByteBuffer.wrap(got).getInt() == got.length - 4, "length prefix " + ByteBuffer.wrap(got).getInt());
            expectRefused(Arrays.copyOfRange(got, 4, got.length), 9, "getData /free by a retired user");
            byte[] last = drain(wire.readInbound());
            expect(Arrays.equals(Arrays.copyOfRange(last, 4, last.length), close), "closeSession changed");
            expect(wire.readInbound() == null, "more came out than went in");
            expect(judged.get() == 1, "Gate judged " + judged.get() + " requests, expected only the getData");
            wire.finishAndReleaseAll();
        });
        check("RequestFilter: a request split over reads is judged once, whole", () -> {
            AtomicInteger judged = new AtomicInteger();
            Wire wire = wire(() -> {
                judged.incrementAndGet();
                return POLICY;
            }, A);
            byte[] connect = serialize(new ConnectRequest(0, 0, 30_000, 0, new byte[16], false));
            wire.writeInbound(prefixed(connect));
            byte[] first = drain(wire.readInbound());
            expect(Arrays.equals(Arrays.copyOfRange(first, 4, first.length), connect), "the connect request changed");
            expect(judged.get() == 0, "the connect request was judged");
            byte[] create = frame(11, OpCode.create, new CreateRequest("/app/x", DATA, open(), 0));
            ByteBuf whole = prefixed(create);
            for (int cut : new int[] {3, 9, whole.readableBytes() - 1}) {
                ByteBuf copy = whole.copy();
                wire.writeInbound(copy.readRetainedSlice(cut));
                expect(wire.readInbound() == null, "something came out of " + cut + " bytes of " + whole.readableBytes());
                wire.writeInbound(copy);
                byte[] got = drain(wire.readInbound());
                byte[] rewritten = Arrays.copyOfRange(got, 4, got.length);
                expect(ByteBuffer.wrap(got).getInt() == rewritten.length, "length prefix");
                List<ACL> acl = body(rewritten, 11, OpCode.create, new CreateRequest()).getAcl();
                expect(byId(acl).equals(expected(A_SASL, GRANT, A_DIGEST, GRANT, SUPER, Perms.ALL)), "ACL " + show(acl));
            }
            expect(judged.get() == 3, "Gate judged " + judged.get() + " times, expected 3");
            wire.finishAndReleaseAll();
        });
    }

    static void usersChecks() {
        AtomicReference<Policy> current = new AtomicReference<>(POLICY);
        Users users = new Users(Map.of("super", "super-password"), current::get);
        check("Users: JAAS users and policy users are both found", () -> {
            expect("super-password".equals(users.get("super")) && users.containsKey("super"), "super: " + users.get("super"));
            expect("password-a".equals(users.get("relation-7")) && users.containsKey("relation-7"),
                   "relation-7: " + users.get("relation-7"));
            expect(users.get("relation-6") == null && !users.containsKey("relation-6"), "relation-6 is not a user");
            expect(users.entrySet().size() == 4, "entries " + users.entrySet());
        });
        check("Users: a user removed from the policy disappears at once, a new one appears", () -> {
            current.set(Policy.parse((Policy.HEADER + "\nuser\trelation-8\tpassword-b\nuser\trelation-10\tnew\n")
                .getBytes(StandardCharsets.UTF_8)));
            expect(users.get("relation-7") == null && !users.containsKey("relation-7"), "relation-7 still there");
            expect("new".equals(users.get("relation-10")) && users.containsKey("relation-10"), "relation-10 not there");
            expect("super-password".equals(users.get("super")), "super lost");
            current.set(Policy.EMPTY);
            expect(!users.containsKey("relation-8") && users.containsKey("super"), "after an empty policy");
            current.set(POLICY);
        });
        check("Users: a policy user cannot replace the JAAS super user's password", () -> {
            current.set(Policy.parse((Policy.HEADER + "\nuser\tsuper\tforged\n").getBytes(StandardCharsets.UTF_8)));
            expect("super-password".equals(users.get("super")), "super's password is " + users.get("super"));
            current.set(POLICY);
        });
    }

    static void policySourceChecks() {
        check("PolicySource: the policy seen last holds while a snapshot sync replaces the tree", () -> {
            java.io.File dir = java.nio.file.Files.createTempDirectory("policy-source").toFile();
            ZKDatabase db = new ZKDatabase(new FileTxnSnapLog(dir, dir));
            ZooKeeperServer zks = new ZooKeeperServer();
            zks.setZKDatabase(db);
            PolicySource source = new PolicySource(() -> zks, POLICY_PATH);
            expect(source.get().users.isEmpty(), "users before any policy: " + source.get().users);
            List<ACL> open = org.apache.zookeeper.ZooDefs.Ids.OPEN_ACL_UNSAFE;
            db.getDataTree().createNode("/zookeeper-k8s", new byte[0], open, 0, 0, 1, 1);
            db.getDataTree().createNode(POLICY_PATH, POLICY_TEXT.getBytes(StandardCharsets.UTF_8), open, 0, 0, 2, 2);
            expect(source.get().users.equals(POLICY.users), "users read: " + source.get().users);
            // A learner's SNAP sync starts with this: an empty tree until the leader's snapshot is read.
            db.clear();
            expect(source.get().users.equals(POLICY.users), "users while the tree is replaced: " + source.get().users);
            expect(source.get().chroots.keySet().equals(POLICY.chroots.keySet()),
                   "chroots while the tree is replaced: " + source.get().chroots.keySet());
            db.getDataTree().createNode("/zookeeper-k8s", new byte[0], open, 0, 0, 3, 3);
            byte[] newer = (Policy.HEADER + "\nuser\trelation-10\tnew\n").getBytes(StandardCharsets.UTF_8);
            db.getDataTree().createNode(POLICY_PATH, newer, open, 0, 0, 4, 4);
            expect(source.get().users.equals(Map.of("relation-10", "new")), "users after the sync: " + source.get().users);
        });
    }

    static void sessionChecks() {
        check("client_sessions: each connection counts for the chroots its login owns, every chroot listed", () -> {
            Map<String, Integer> counts = SessionsCommand.count(
                POLICY, List.of(A, A_BY_DIGEST, B, R, ANONYMOUS, SUPER_SESSION, RETIRED));
            Map<String, Integer> expected = Map.of("/app", 2, "/app-b", 1, "/shared/b", 1, "/readonly", 1,
                                                   "/old", 1, "/gone", 0);
            expect(counts.equals(expected), "counts " + counts);
            expect(SessionsCommand.count(Policy.EMPTY, List.of(A, B)).isEmpty(), "with no policy");
        });
    }
}
