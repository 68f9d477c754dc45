package zookeeperk8s;

import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.function.Consumer;
import java.util.function.Supplier;
import org.apache.jute.BinaryInputArchive;
import org.apache.jute.BinaryOutputArchive;
import org.apache.jute.Record;
import org.apache.zookeeper.AddWatchMode;
import org.apache.zookeeper.ZooDefs.OpCode;
import org.apache.zookeeper.data.ACL;
import org.apache.zookeeper.data.Id;
import org.apache.zookeeper.proto.AddWatchRequest;
import org.apache.zookeeper.proto.CheckVersionRequest;
import org.apache.zookeeper.proto.CheckWatchesRequest;
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
import org.apache.zookeeper.proto.MultiHeader;
import org.apache.zookeeper.proto.RemoveWatchesRequest;
import org.apache.zookeeper.proto.SetACLRequest;
import org.apache.zookeeper.proto.SetDataRequest;
import org.apache.zookeeper.proto.SetWatches2;
import org.apache.zookeeper.proto.SetWatches;
import org.apache.zookeeper.proto.SyncRequest;

/**
 * Decides, for one client request as it arrives, whether it goes to ZooKeeper as sent,
 * rewritten, or refused.
 *
 * <p>For a session that is not the super user:
 * <ul>
 *   <li>a request naming a path inside a client chroot the session does not own, inside the
 *       charm's own area or inside /zookeeper/quota, is refused (NoAuth), whatever the operation: exists() and watches
 *       included, which ZooKeeper itself checks against no ACL for a missing znode;</li>
 *   <li>a request from a session logged in by SASL as a user the policy no longer lists (its
 *       relation was removed) is refused, so removal takes effect at once;</li>
 *   <li>an ACL a request carries (create, create2, createContainer, createTTL, setACL, and each
 *       create inside multi) for a path inside the session's own chroot is replaced by
 *       {@link Policy#closed} before ZooKeeper sees it: the znode exists closed from its first
 *       moment, on every member, because the rewritten request is what the leader commits;</li>
 *   <li>watches re-registered after a reconnect (setWatches, setWatches2) lose the paths the
 *       session may not watch; a persistent recursive watch is refused on a path above a chroot
 *       the session does not own (it would report every znode created there).</li>
 * </ul>
 *
 * <p>A refusal must keep the session's replies in order (clients match replies to requests by
 * order, not only by xid), so the extension never answers by itself: it turns the request into
 * a read of the policy znode, closed to all but the super user, and ZooKeeper answers NoAuth in
 * sequence with the rest.
 */
public final class Gate {

    private static final org.slf4j.Logger LOG = org.slf4j.LoggerFactory.getLogger(Gate.class);

    private final Supplier<Policy> policy;
    private final Map<String, String> staticUsers;
    private final List<Id> superIds;
    private final String policyPath;
    // Closed to every session but super: the charm's own area, and ZooKeeper's quota tree
    // (which ZooKeeper leaves writable by anyone).
    private final List<String> reserved;

    public Gate(Supplier<Policy> policy, Map<String, String> staticUsers, List<Id> superIds, String policyPath) {
        this.policy = policy;
        this.staticUsers = staticUsers;
        this.superIds = superIds;
        this.policyPath = policyPath;
        int second = policyPath.indexOf('/', 1);
        this.reserved = List.of(second < 0 ? policyPath : policyPath.substring(0, second), "/zookeeper/quota");
    }

    /**
     * The request frame (without its length prefix) to pass on, or null to pass it unchanged.
     * A request it cannot read is refused (fails closed), never passed on unjudged.
     */
    public byte[] filter(List<Id> ids, byte[] frame) throws IOException {
        for (Id id : ids) {
            if (superIds.contains(id)) {
                return null;
            }
        }
        int xid = ByteBuffer.wrap(frame, 0, 4).getInt();
        try {
            return judge(ids, xid, frame);
        } catch (IOException | RuntimeException e) {
            LOG.debug("refusing an unreadable request (xid {}): {}", xid, e.toString());
            return refusal(xid);
        }
    }

    private byte[] judge(List<Id> ids, int xid, byte[] frame) throws IOException {
        int type = ByteBuffer.wrap(frame, 4, 4).getInt();
        Policy current = policy.get();
        Session session = new Session(current, ids, retired(current, ids));
        BinaryInputArchive in = BinaryInputArchive.getArchive(
            new ByteArrayInputStream(frame, 8, frame.length - 8));
        switch (type) {
            case OpCode.create:
            case OpCode.create2:
            case OpCode.createContainer: {
                CreateRequest request = read(in, new CreateRequest());
                return closing(session, xid, frame, request, request.getPath(), request.getAcl(), request::setAcl);
            }
            case OpCode.createTTL: {
                CreateTTLRequest request = read(in, new CreateTTLRequest());
                return closing(session, xid, frame, request, request.getPath(), request.getAcl(), request::setAcl);
            }
            case OpCode.setACL: {
                SetACLRequest request = read(in, new SetACLRequest());
                return closing(session, xid, frame, request, request.getPath(), request.getAcl(), request::setAcl);
            }
            case OpCode.multi:
            case OpCode.multiRead:
                return multi(session, xid, frame, in);
            case OpCode.addWatch: {
                AddWatchRequest request = read(in, new AddWatchRequest());
                boolean recursive = request.getMode() == AddWatchMode.PERSISTENT_RECURSIVE.getMode();
                if (session.refuses(request.getPath()) || recursive && session.above(request.getPath())) {
                    return refusal(xid);
                }
                return null;
            }
            case OpCode.setWatches: {
                SetWatches request = read(in, new SetWatches());
                SetWatches kept = new SetWatches(request.getRelativeZxid(),
                    session.watchable(request.getDataWatches(), false),
                    session.watchable(request.getExistWatches(), false),
                    session.watchable(request.getChildWatches(), false));
                return kept.equals(request) ? null : frame(frame, kept);
            }
            case OpCode.setWatches2: {
                SetWatches2 request = read(in, new SetWatches2());
                SetWatches2 kept = new SetWatches2(request.getRelativeZxid(),
                    session.watchable(request.getDataWatches(), false),
                    session.watchable(request.getExistWatches(), false),
                    session.watchable(request.getChildWatches(), false),
                    session.watchable(request.getPersistentWatches(), false),
                    session.watchable(request.getPersistentRecursiveWatches(), true));
                return kept.equals(request) ? null : frame(frame, kept);
            }
            case OpCode.deleteContainer:
                return refusal(xid); // ZooKeeper's own container cleanup, never a client's
            default: {
                Supplier<Record> record = PATH_FIRST.get(type);
                if (record == null) {
                    return null; // ping, auth, sasl, closeSession, reconfig, whoAmI: no client path
                }
                // The whole record, so that a request cut short is refused like any other;
                // its path is the field it begins with.
                read(in, record.get());
                String path = BinaryInputArchive.getArchive(
                    new ByteArrayInputStream(frame, 8, frame.length - 8)).readString("path");
                return session.refuses(path) ? refusal(xid) : null;
            }
        }
    }

    /** The requests that name one path, as their first field. */
    private static final Map<Integer, Supplier<Record>> PATH_FIRST = Map.ofEntries(
        Map.entry(OpCode.delete, DeleteRequest::new),
        Map.entry(OpCode.exists, ExistsRequest::new),
        Map.entry(OpCode.getData, GetDataRequest::new),
        Map.entry(OpCode.setData, SetDataRequest::new),
        Map.entry(OpCode.getACL, GetACLRequest::new),
        Map.entry(OpCode.getChildren, GetChildrenRequest::new),
        Map.entry(OpCode.sync, SyncRequest::new),
        Map.entry(OpCode.getChildren2, GetChildren2Request::new),
        Map.entry(OpCode.check, CheckVersionRequest::new),
        Map.entry(OpCode.checkWatches, CheckWatchesRequest::new),
        Map.entry(OpCode.removeWatches, RemoveWatchesRequest::new),
        Map.entry(OpCode.getEphemerals, GetEphemeralsRequest::new),
        Map.entry(OpCode.getAllChildrenNumber, GetAllChildrenNumberRequest::new));


    private byte[] multi(Session session, int xid, byte[] frame, BinaryInputArchive in) throws IOException {
        ByteArrayOutputStream bytes = new ByteArrayOutputStream(frame.length + 64);
        bytes.write(frame, 0, 8);
        BinaryOutputArchive out = BinaryOutputArchive.getArchive(bytes);
        boolean changed = false;
        MultiHeader header = read(in, new MultiHeader());
        while (!header.getDone()) {
            header.serialize(out, "header");
            Record op;
            String path;
            switch (header.getType()) {
                case OpCode.create:
                case OpCode.create2:
                case OpCode.createContainer: {
                    CreateRequest create = read(in, new CreateRequest());
                    path = create.getPath();
                    changed |= close(session, path, create.getAcl(), create::setAcl);
                    op = create;
                    break;
                }
                case OpCode.createTTL: {
                    CreateTTLRequest create = read(in, new CreateTTLRequest());
                    path = create.getPath();
                    changed |= close(session, path, create.getAcl(), create::setAcl);
                    op = create;
                    break;
                }
                case OpCode.delete: {
                    DeleteRequest delete = read(in, new DeleteRequest());
                    path = delete.getPath();
                    op = delete;
                    break;
                }
                case OpCode.setData: {
                    SetDataRequest set = read(in, new SetDataRequest());
                    path = set.getPath();
                    op = set;
                    break;
                }
                case OpCode.check: {
                    CheckVersionRequest check = read(in, new CheckVersionRequest());
                    path = check.getPath();
                    op = check;
                    break;
                }
                case OpCode.getChildren: {
                    GetChildrenRequest get = read(in, new GetChildrenRequest());
                    path = get.getPath();
                    op = get;
                    break;
                }
                case OpCode.getData: {
                    GetDataRequest get = read(in, new GetDataRequest());
                    path = get.getPath();
                    op = get;
                    break;
                }
                default:
                    return refusal(xid); // ZooKeeper accepts no other operation inside multi
            }
            if (session.refuses(path)) {
                return refusal(xid); // the whole transaction: nothing of it may happen
            }
            op.serialize(out, "op");
            header = read(in, new MultiHeader());
        }
        header.serialize(out, "header");
        return changed ? bytes.toByteArray() : null;
    }

    private boolean retired(Policy policy, List<Id> ids) {
        for (Id id : ids) {
            if (id.getScheme().equals("sasl")
                && !policy.users.containsKey(id.getId())
                && !staticUsers.containsKey(id.getId())) {
                return true;
            }
        }
        return false;
    }

    /** A request carrying an ACL: refused, passed as it is (outside chroots), or closed. */
    private byte[] closing(Session session, int xid, byte[] frame, Record request, String path,
                           List<ACL> acl, Consumer<List<ACL>> set) throws IOException {
        if (session.refuses(path)) {
            return refusal(xid);
        }
        return close(session, path, acl, set) ? frame(frame, request) : null;
    }

    private boolean close(Session session, String path, List<ACL> acl, Consumer<List<ACL>> set) {
        Policy.Chroot chroot = session.chrootOf(path);
        if (chroot == null) {
            return false;
        }
        set.accept(Policy.closed(chroot, acl, superIds.get(0)));
        return true;
    }

    private byte[] refusal(int xid) throws IOException {
        ByteArrayOutputStream bytes = new ByteArrayOutputStream(64);
        BinaryOutputArchive out = BinaryOutputArchive.getArchive(bytes);
        out.writeInt(xid, "xid");
        out.writeInt(OpCode.getData, "type");
        new GetDataRequest(policyPath, false).serialize(out, "request");
        return bytes.toByteArray();
    }

    private static byte[] frame(byte[] original, Record request) throws IOException {
        ByteArrayOutputStream bytes = new ByteArrayOutputStream(original.length + 64);
        bytes.write(original, 0, 8); // xid and type stay
        request.serialize(BinaryOutputArchive.getArchive(bytes), "request");
        return bytes.toByteArray();
    }

    private static <T extends Record> T read(BinaryInputArchive in, T record) throws IOException {
        record.deserialize(in, "request");
        return record;
    }

    /** One request's view: the policy as this server has it, and the session's identities. */
    private final class Session {
        final Policy policy;
        final List<Id> ids;
        final boolean retired;

        Session(Policy policy, List<Id> ids, boolean retired) {
            this.policy = policy;
            this.ids = ids;
            this.retired = retired;
        }

        Policy.Chroot chrootOf(String path) {
            return policy.chrootOf(path);
        }

        boolean refuses(String path) {
            if (retired) {
                return true;
            }
            for (String area : reserved) {
                if (path.equals(area) || path.startsWith(area + "/")) {
                    return true;
                }
            }
            Policy.Chroot chroot = policy.chrootOf(path);
            return chroot != null && !Policy.owns(chroot, ids);
        }

        /** Whether a recursive watch at `path` would see into someone else's chroot. */
        boolean above(String path) {
            String prefix = path.endsWith("/") ? path : path + "/";
            for (String area : reserved) {
                if (area.startsWith(prefix)) {
                    return true;
                }
            }
            return policy.coversForeign(path, ids);
        }

        List<String> watchable(List<String> paths, boolean recursive) {
            List<String> kept = new ArrayList<>(paths.size());
            for (String path : paths) {
                if (!refuses(path) && !(recursive && above(path))) {
                    kept.add(path);
                }
            }
            return kept;
        }
    }
}
