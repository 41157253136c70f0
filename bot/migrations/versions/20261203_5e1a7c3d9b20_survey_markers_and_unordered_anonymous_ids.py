"""survey markers (one answer per person) and unordered anonymous response ids

One answer per person now rests on keyed hashes of the person's channel
accounts (`survey_marker`), no longer on a token of the citizen row; the
participant's token stays only for participations made before (#13, item 14).
Anonymous responses' ids are redrawn at random, so the stored order no longer
tells in which order the answers came, and `mixed` says which were rewritten
with the rest of their day (#13, item 12).

Revision ID: 5e1a7c3d9b20
Revises: 5e1f2a9c7d43
Create Date: 2026-12-03 12:40:00.000000
"""
import secrets
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '5e1a7c3d9b20'
down_revision: str | None = '5e1f2a9c7d43'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

RANDOM_IDS_FROM, RANDOM_IDS_SPAN = 2**30, 2**30 - 1  # as bot.services.surveys


def upgrade() -> None:
    op.create_table('survey_marker',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('survey_id', sa.Integer(), nullable=False),
    sa.Column('participant_id', sa.Integer(), nullable=False),
    sa.Column('marker', sa.String(length=64), nullable=False),
    sa.ForeignKeyConstraint(['participant_id'], ['survey_participant.id'], name=op.f('fk_survey_marker_participant_id_survey_participant'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['survey_id'], ['survey.id'], name=op.f('fk_survey_marker_survey_id_survey'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_survey_marker')),
    sa.UniqueConstraint('survey_id', 'marker', name=op.f('uq_survey_marker_survey_id_marker'))
    )
    with op.batch_alter_table('survey_marker', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_survey_marker_participant_id'), ['participant_id'], unique=False)

    with op.batch_alter_table('survey_participant', schema=None) as batch_op:
        batch_op.alter_column('token', existing_type=sa.String(length=64), nullable=True)

    with op.batch_alter_table('survey_response', schema=None) as batch_op:
        batch_op.add_column(sa.Column('mixed', sa.Boolean(), server_default=sa.true(),
                                      nullable=False))

    connection = op.get_bind()
    anonymous = connection.execute(sa.text(
        "SELECT r.id FROM survey_response r JOIN survey s ON s.id = r.survey_id "
        "WHERE s.anonymous ORDER BY r.id")).scalars().all()
    taken = set(connection.execute(sa.text("SELECT id FROM survey_response")).scalars())
    for old in anonymous:
        new = RANDOM_IDS_FROM + secrets.randbelow(RANDOM_IDS_SPAN)
        while new in taken:
            new = RANDOM_IDS_FROM + secrets.randbelow(RANDOM_IDS_SPAN)
        taken.add(new)
        connection.execute(sa.text("UPDATE survey_response SET id = :new WHERE id = :old"),
                           {"new": new, "old": old})


def downgrade() -> None:
    with op.batch_alter_table('survey_response', schema=None) as batch_op:
        batch_op.drop_column('mixed')
    connection = op.get_bind()
    connection.execute(sa.text(  # kept, though nothing will find them by these
        "UPDATE survey_participant SET token = 'participant-' || id WHERE token IS NULL"))
    with op.batch_alter_table('survey_participant', schema=None) as batch_op:
        batch_op.alter_column('token', existing_type=sa.String(length=64), nullable=False)
    with op.batch_alter_table('survey_marker', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_survey_marker_participant_id'))
    op.drop_table('survey_marker')
