from rest_framework import serializers

from core.api.serializers import InputSerializer


class ContactsFileSerializer(serializers.Serializer):
    csv = serializers.FileField(help_text="One email or customer ID (sub_...) a line; an optional header line `email`.")


class AddStatisticsBodySerializer(serializers.Serializer):
    added = serializers.IntegerField(
        help_text="Subscribers who joined the list, those created for an email naming no subscriber included"
    )
    invalid = serializers.IntegerField(
        help_text="Lines that are neither an email nor a customer ID, customer IDs naming no subscriber, and emails "
        "naming none that an import would refuse to create"
    )
    skipped = serializers.IntegerField(help_text="Subscribers who were already in the list")
    duplicated = serializers.IntegerField(help_text="Lines naming a contact an earlier line named")


class AddStatisticsSerializer(serializers.Serializer):
    id = serializers.CharField()
    statistics = AddStatisticsBodySerializer()


class RemoveStatisticsBodySerializer(serializers.Serializer):
    deleted = serializers.IntegerField(help_text="Subscribers who left the list")
    invalid = serializers.IntegerField(
        help_text="Lines that are neither an email nor a customer ID, and customer IDs naming no subscriber"
    )
    skipped = serializers.IntegerField(help_text="Not in the list (an email naming no subscriber included)")
    duplicated = serializers.IntegerField()


class ListFromFileSerializer(InputSerializer):
    """`POST /api/lists` as multipart/form-data: seed 003's create-new."""

    name = serializers.CharField(max_length=200)
    audience_id = serializers.CharField(
        max_length=64, required=False, help_text="The list's audience; aud_default (All Subscribers) when left out"
    )
    csv = serializers.FileField(
        help_text="One email or customer ID (sub_...) a line; an optional header line `email`. An email naming no "
        "subscriber creates one."
    )


class ListCreatedSerializer(serializers.Serializer):
    id = serializers.CharField()
    statistics = AddStatisticsBodySerializer(
        required=False, help_text="Only for a list created from a file (multipart/form-data): what its lines did"
    )


class RemoveStatisticsSerializer(serializers.Serializer):
    statistics = RemoveStatisticsBodySerializer()


class ArchiveInputSerializer(InputSerializer):
    echo_fields = frozenset({"id"})  # the answer's
    archived = serializers.BooleanField()


class ArchiveOutputSerializer(serializers.Serializer):
    id = serializers.CharField()
    archived = serializers.BooleanField()
