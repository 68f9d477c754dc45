package zookeeperk8s;

import java.util.function.Supplier;
import org.apache.zookeeper.server.DataNode;
import org.apache.zookeeper.server.ZKDatabase;
import org.apache.zookeeper.server.ZooKeeperServer;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The policy as this server's own replica of the tree holds it.
 *
 * <p>Read from the in-memory database on each request rather than through a watch or a client
 * session: the leader commits the charm's write to every member, a member applies it in zxid
 * order with everything else, and the lookup is one hash-map access (parsed again only when
 * the znode's mzxid changes). No thread, no credentials, nothing to re-register after an
 * election or a resync replaces the tree.
 */
public final class PolicySource implements Supplier<Policy> {

    private static final Logger LOG = LoggerFactory.getLogger(PolicySource.class);

    private static final class Parsed {
        final DataNode node;
        final long mzxid;
        final Policy policy;

        Parsed(DataNode node, long mzxid, Policy policy) {
            this.node = node;
            this.mzxid = mzxid;
            this.policy = policy;
        }
    }

    private final Supplier<ZooKeeperServer> server;
    private final String path;
    private volatile Parsed last = new Parsed(null, Long.MIN_VALUE, Policy.EMPTY);

    public PolicySource(Supplier<ZooKeeperServer> server, String path) {
        this.server = server;
        this.path = path;
    }

    @Override
    public Policy get() {
        ZooKeeperServer zks = server.get();
        ZKDatabase database = zks == null ? null : zks.getZKDatabase();
        if (database == null) {
            return last.policy; // between roles: ZooKeeper serves no client request meanwhile
        }
        DataNode node = database.getNode(path);
        if (node == null) {
            // The charm never deletes the policy, so a missing znode after one was seen is a tree
            // being replaced (a learner's snapshot sync, an election's reload), not a revocation:
            // answering "no users, no chroots" then fails valid SASL logins and opens every chroot
            // for the length of the load.
            return last.policy;
        }
        Parsed seen = last;
        long mzxid;
        byte[] data;
        synchronized (node) {
            mzxid = node.stat.getMzxid();
            if (seen.node == node && seen.mzxid == mzxid) {
                return seen.policy;
            }
            data = node.getData();
        }
        Policy policy;
        try {
            policy = Policy.parse(data == null ? new byte[0] : data);
            LOG.info("policy at zxid 0x{}: {} users, {} chroots", Long.toHexString(mzxid),
                     policy.users.size(), policy.chroots.size());
        } catch (IllegalArgumentException e) {
            // Keep enforcing what was last understood rather than nothing at all.
            LOG.error("policy at zxid 0x{} unreadable, keeping the previous one: {}",
                      Long.toHexString(mzxid), e.getMessage());
            policy = seen.policy;
        }
        last = new Parsed(node, mzxid, policy);
        return policy;
    }
}
